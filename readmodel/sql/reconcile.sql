-- One reconciliation rule: pair the left and right observations, take each side's latest value per
-- observation (a duplicate delivery is not a second observation), and flag amount, quantity or
-- status differences beyond tolerance, and missing sides. Every pair is returned (mismatched or
-- not); the parity report (reconcile_parity.sql) sums them and lists the mismatched ones, whose
-- evidence and transaction value reconcile_mismatches.sql reads.
-- Hops are read through business_hops (placed in their process, keyed by their process key); a side
-- counts by its stage, whoever reported it, unless the rule pins its system, and only a hop that went
-- through observes it (placement.sql's went_through: one in error or dead-lettered posted nothing).
-- Pairing: by the rule's match key (e.g. each invoice against the shipment it bills). Where a hop of
-- a transaction lacks the match key, the transaction is compared as a whole: all its left observations
-- against all its right ones, each observation's latest report summed (so partial shipments still
-- reconcile); the pair's match key is then the process key. An observation there is a business event
-- (biz.event_id, else the span): one delivered twice is counted once.
-- Two shapes of one query, and each rule is judged once, in one of them (reconcile.py's _shape): with
-- {whole} false, when no hop lacks the match key (reconcile_keyless.sql), pairs are made by it; with
-- {whole} true, when some do or the rule always compares transactions as a whole ({whole_always}), the units collect the
-- observations of transactions compared as a whole (aggregate states that would slow every pass down
-- otherwise), and reconcile_whole.sql says which transactions those are.
-- Amounts (quantities) are compared only when both sides have one; {right_above_only}: only a right
-- side above the left counts (invoiced more than accepted; less is partial invoicing).
-- Pairs are those first observed since {since}; left sides are looked up {lookback_s} further back.
-- {keys} (when not empty) narrows the pairs to the hops of these business keys. Readers select only
-- the columns they need: ClickHouse then computes only the aggregates behind them (the parity needs
-- neither the key nor the systems unless it lists the mismatched pairs).
WITH
observed AS (
    SELECT
        -- the hop's own match key ('' when it lacks it); the process key when the rule has no match_on
        if({by_key:Bool}, BizKey, {match_col:Identifier}) AS own_match,
        BizKey AS key,
        key != '' AS keyed,
        -- its transaction is compared as a whole (false in the first pass, which pairs by the match key;
        -- reconcile_whole.sql in the other shape)
        $in_whole AS in_whole,
        if(in_whole, key, own_match) AS match_key,
        Stage = {right_stage:String} AND ({right_system:String} = '' OR System = {right_system:String}) AS is_right,
        -- one observation: its match key, else its business event (biz.event_id, else the span)
        if(own_match != '', own_match, if(EventId != '', EventId, SpanId)) AS unit,
        Timestamp, Amount, Quantity, BizStatus, Currency, System, Channel,
        -- the latest report: by time, then by span id (two reports at one instant give every reader the same)
        bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64) + toUInt128(cityHash64(SpanId)) AS at_order
    FROM ${business_hops}
    WHERE Stage IN ({left_stage:String}, {right_stage:String}) AND went_through
      AND BizProcess = {process:String}
      AND Timestamp <= {now:DateTime64(9)}
      AND (Timestamp >= {since:DateTime64(9)}
           OR (Timestamp >= {since:DateTime64(9)} - toIntervalSecond({lookback_s:UInt32}) AND Stage = {left_stage:String}))
      AND ${hops_of_keys}
      AND ((Stage = {left_stage:String} AND ({left_system:String} = '' OR System = {left_system:String})) OR is_right)
),
grouped AS (
    SELECT
        match_key,
        -- the pair's transaction: its hops' resolved key ('' when none resolves yet), minIf(key, key != '');
        -- $key_of_pair is that aggregate, or what it always equals for the rule (reconcile.py's _KEY_OF_PAIR);
        -- every aggregate here picks the same value whichever query shape or thread reads the hops (the
        -- loop's passes build on each other)
        $key_of_pair AS key,
        max(in_whole) AS whole,
        -- the hops lacking the match key in the first pass (match_key '') are no pair
        match_key != '' AND countIf(NOT is_right) > 0 AS has_left,
        match_key != '' AND countIf(is_right) > 0 AS has_right,
        -- each side's latest report
        argMaxIf(Amount, at_order, NOT is_right) AS latest_left_amount,
        argMaxIf(Amount, at_order, is_right) AS latest_right_amount,
        argMaxIf(Quantity, at_order, NOT is_right) AS latest_left_quantity,
        argMaxIf(Quantity, at_order, is_right) AS latest_right_quantity,
        -- compared as a whole: every report of every observation (left_units, right_units)
        $units,
        -- statuses only where the rule compares them (elsewhere they stay '': reconcile.py's _STATUSES)
        $statuses,
        argMaxIf(System, at_order, NOT is_right) AS left_system,
        argMaxIf(System, at_order, is_right) AS right_system,
        argMaxIf(Currency, at_order, Currency != '') AS currency,
        argMinIf(Channel, at_order, Channel != '') AS channel,
        minIf(Timestamp, NOT is_right) AS left_at,
        maxIf(Timestamp, is_right) AS right_at,
        minIf(Timestamp, is_right) AS right_first_at,
        max(Timestamp) AS last_at,
        -- compared as a whole: its latest hop lacking the match key (what made it whole: reconcile.py's kept pairs)
        maxIf(Timestamp, in_whole AND own_match = '') AS keyless_at
    FROM observed
    GROUP BY match_key
),
paired AS (
    SELECT *,
        -- compared as a whole: the sum over observations of each one's latest report (the first of its
        -- observation in reverse order); NULL when none has a value
        if(whole AND NOT arrayExists(u -> u.3 IS NOT NULL, left_units), NULL,
           if(whole, arraySum(u -> ifNull(u.3, 0), arrayFilter((u, i) -> i = 1 OR u.1 != left_sorted[i - 1].1,
                     arrayReverseSort(left_units) AS left_sorted, arrayEnumerate(left_sorted))),
              latest_left_amount)) AS left_amount,
        if(whole AND NOT arrayExists(u -> u.3 IS NOT NULL, right_units), NULL,
           if(whole, arraySum(u -> ifNull(u.3, 0), arrayFilter((u, i) -> i = 1 OR u.1 != right_sorted[i - 1].1,
                     arrayReverseSort(right_units) AS right_sorted, arrayEnumerate(right_sorted))),
              latest_right_amount)) AS right_amount,
        if(whole AND NOT arrayExists(u -> u.4 IS NOT NULL, left_units), NULL,
           if(whole, arraySum(u -> ifNull(u.4, 0), arrayFilter((u, i) -> i = 1 OR u.1 != left_sorted[i - 1].1,
                     left_sorted, arrayEnumerate(left_sorted))),
              latest_left_quantity)) AS left_quantity,
        if(whole AND NOT arrayExists(u -> u.4 IS NOT NULL, right_units), NULL,
           if(whole, arraySum(u -> ifNull(u.4, 0), arrayFilter((u, i) -> i = 1 OR u.1 != right_sorted[i - 1].1,
                     right_sorted, arrayEnumerate(right_sorted))),
              latest_right_quantity)) AS right_quantity
    FROM grouped
),
judged AS (
    SELECT *,
        transform(currency, {currencies:Array(String)}, {amount_abs_by_currency:Array(Float64)},
                  {amount_abs:Float64}) AS amount_abs,
        has_left AND has_right AND has({compare:Array(String)}, 'amount')
            AND left_amount IS NOT NULL AND right_amount IS NOT NULL
            AND if({right_above_only:Bool}, right_amount - left_amount, abs(left_amount - right_amount))
                > greatest(amount_abs, {amount_rel:Float64} * abs(left_amount)) AS amount_differs,
        has_left AND has_right AND has({compare:Array(String)}, 'quantity')
            AND left_quantity IS NOT NULL AND right_quantity IS NOT NULL
            AND if({right_above_only:Bool}, right_quantity - left_quantity, abs(left_quantity - right_quantity))
                > greatest({quantity_abs:Float64}, {quantity_rel:Float64} * abs(left_quantity)) AS quantity_differs,
        has_left AND has_right AND has({compare:Array(String)}, 'status')
            AND transform(left_status, {status_from:Array(String)}, {status_to:Array(String)}, left_status)
                != right_status AS status_differs,
        -- a side without the other counts once the rule's grace has passed since it was first seen (systems that
        -- report late, in batches: an invoice posted before the warehouse's confirmation arrives is not a mismatch
        -- yet; reconcile_due.sql finds the pairs whose grace the clock alone ended)
        (has_right AND NOT has_left AND {presence:String} IN ('right_requires_left', 'both')
              AND right_first_at + toIntervalSecond({grace_s:UInt32}) <= {now:DateTime64(9)})
          OR (has_left AND NOT has_right AND {presence:String} IN ('left_requires_right', 'both')
              AND left_at + toIntervalSecond({grace_s:UInt32}) <= {now:DateTime64(9)}) AS presence_differs
    FROM paired
)
SELECT
    key, match_key, channel, currency,
    amount_differs OR quantity_differs OR status_differs OR presence_differs AS mismatched,
    multiIf(presence_differs, 'presence', amount_differs, 'amount', quantity_differs, 'quantity',
            status_differs, 'status', '') AS field,
    has_left AND has_right AND right_at <= left_at + toIntervalSecond({right_sla_s:UInt32}) AS right_within_sla,
    multiIf(match_key = '', last_at, has_left, left_at, right_at) AS observed_at,
    left_amount, right_amount, left_quantity, right_quantity, left_status, right_status,
    if(has_left, left_system, '') AS left_system, if(has_right, right_system, '') AS right_system,
    has_left, has_right, last_at,
    -- each side's earliest hop (reconcile.py's kept pairs: a pair judged on hops a window's reading would
    -- leave out is not read from them for that window)
    left_at, right_first_at, whole, keyless_at
FROM judged
-- a pair belongs to the window its first observation falls in (its left side was looked up before it)
WHERE observed_at >= {since:DateTime64(9)}
