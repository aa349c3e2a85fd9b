-- One reconciliation rule: pair the left and right observations by the match key, take each
-- side's latest value per key (a duplicate delivery is not a second observation), and flag
-- amount, quantity or status differences beyond tolerance, and missing sides. Every pair is
-- returned (mismatched or not); the parity report (reconcile_parity.sql) sums them, the
-- mismatch list (reconcile_mismatches.sql) keeps the mismatched ones with their evidence.
-- Pairs are those first observed since {since}; left sides are looked up {lookback_s} further back.
-- {match_keys} (when not empty) narrows the pairs to these match keys, {keys} to the hops of these
-- business keys. Readers select only the columns they need: ClickHouse then computes only
-- the aggregates behind them (the parity needs neither the key nor the systems).
WITH
observed AS (
    SELECT
        {match_col:Identifier} AS match_key,
        {key_col:Identifier} AS key,
        Stage = {right_stage:String} AND ({right_system:String} = '' OR System = {right_system:String}) AS is_right,
        Timestamp, Amount, Quantity, BizStatus, Currency, System, Channel
    FROM {db:Identifier}.biz_hops
    -- the two stages' rows are read first (LowCardinality columns), the rest only for them
    PREWHERE Process = {process:String} AND Stage IN ({left_stage:String}, {right_stage:String})
    WHERE StatusCode != 'Error'
      AND Timestamp <= {now:DateTime64(9)}
      AND (Timestamp >= {since:DateTime64(9)}
           OR (Timestamp >= {since:DateTime64(9)} - toIntervalSecond({lookback_s:UInt32}) AND Stage = {left_stage:String}))
      AND ({keys:Array(String)} = [] OR (OrderId, Timestamp, SpanId) IN (
          SELECT OrderId, Timestamp, SpanId FROM {db:Identifier}.biz_keys WHERE Key IN {keys:Array(String)}))
      AND ((Stage = {left_stage:String} AND ({left_system:String} = '' OR System = {left_system:String})) OR is_right)
      AND match_key != ''
      AND ({match_keys:Array(String)} = [] OR match_key IN {match_keys:Array(String)})
),
paired AS (
    SELECT
        match_key,
        any(key) AS key,
        countIf(NOT is_right) > 0 AS has_left,
        countIf(is_right) > 0 AS has_right,
        argMaxIf(Amount, Timestamp, NOT is_right) AS left_amount,
        argMaxIf(Amount, Timestamp, is_right) AS right_amount,
        argMaxIf(Quantity, Timestamp, NOT is_right) AS left_quantity,
        argMaxIf(Quantity, Timestamp, is_right) AS right_quantity,
        -- statuses only where the rule compares them (elsewhere they stay '')
        argMaxIf(BizStatus, Timestamp, NOT is_right AND has({compare:Array(String)}, 'status')) AS left_status,
        argMaxIf(BizStatus, Timestamp, is_right AND has({compare:Array(String)}, 'status')) AS right_status,
        anyIf(System, NOT is_right) AS left_system,
        anyIf(System, is_right) AS right_system,
        any(Currency) AS currency,
        any(Channel) AS channel,
        minIf(Timestamp, NOT is_right) AS left_at,
        maxIf(Timestamp, is_right) AS right_at,
        max(Timestamp) AS last_at
    FROM observed
    GROUP BY match_key
),
judged AS (
    SELECT *,
        transform(currency, {currencies:Array(String)}, {amount_abs_by_currency:Array(Float64)},
                  {amount_abs:Float64}) AS amount_abs,
        has_left AND has_right AND has({compare:Array(String)}, 'amount')
            AND abs(ifNull(left_amount, 0) - ifNull(right_amount, 0))
                > greatest(amount_abs, {amount_rel:Float64} * abs(ifNull(left_amount, 0))) AS amount_differs,
        has_left AND has_right AND has({compare:Array(String)}, 'quantity')
            AND abs(ifNull(left_quantity, 0) - ifNull(right_quantity, 0))
                > greatest({quantity_abs:Float64}, {quantity_rel:Float64} * abs(ifNull(left_quantity, 0))) AS quantity_differs,
        has_left AND has_right AND has({compare:Array(String)}, 'status')
            AND transform(left_status, {status_from:Array(String)}, {status_to:Array(String)}, left_status)
                != right_status AS status_differs,
        (has_right AND NOT has_left AND {presence:String} IN ('right_requires_left', 'both'))
          OR (has_left AND NOT has_right AND {presence:String} IN ('left_requires_right', 'both')
              AND left_at + toIntervalSecond({grace_s:UInt32}) < {now:DateTime64(9)}) AS presence_differs
    FROM paired
)
SELECT
    key, match_key, channel, currency,
    amount_differs OR quantity_differs OR status_differs OR presence_differs AS mismatched,
    multiIf(presence_differs, 'presence', amount_differs, 'amount', quantity_differs, 'quantity',
            status_differs, 'status', '') AS field,
    has_left AND has_right AND right_at <= left_at + toIntervalSecond({right_sla_s:UInt32}) AS right_within_sla,
    if(has_left, left_at, right_at) AS observed_at,
    left_amount, right_amount, left_quantity, right_quantity, left_status, right_status,
    if(has_left, left_system, '') AS left_system, if(has_right, right_system, '') AS right_system,
    has_left, has_right, last_at
FROM judged
-- a pair belongs to the window its first observation falls in (its left side was looked up before it)
WHERE observed_at >= {since:DateTime64(9)}
