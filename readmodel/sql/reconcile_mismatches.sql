-- The evidence and the transaction's value of the mismatched pairs judging passes flagged, for one
-- or more reconciliation rules of one process ({process}), in one read of those transactions' hops.
-- $pairs: the flagged pairs as (rule, match_key, key), `rule` numbering the rules from 0, read from a
-- table ($pair_keys, $match_keys: its columns as sets): the judging passes' `flagged` (reconcile_parity.sql)
-- that reconcile.py wrote there, or the table reconcile_flagged.sql filled (one rule). Per rule: {match_indexes} (which of a hop's keys it pairs by,
-- in the order of `keys` below: 1 for the transaction key, when it matches on the process key),
-- {rule_stages} (its left and right stage) and {lookbacks} (seconds its left sides are looked up before
-- {since}).
--   evidence: the span ids of every observation of the rule's two stages for the pair since
--     {since} - its look-back (a shipment's, or every one of a transaction compared as a whole),
--     whatever its system or status, in time order;
--   amount, currency: the transaction's value, as sql/transactions.sql defines it (tx_value there; the
--     two must agree): the latest amount its process's value stage (the system of record's
--     acceptance) reported in a hop that went through (not in error, not dead-lettered), else the first
--     amount seen; NULL when no hop carried one.
WITH per_key AS (
    SELECT
        BizKey AS tx_key,
        if(countIf(value_hop) > 0,
           tuple(argMaxIf(Amount, at_order, value_hop), argMaxIf(Currency, at_order, value_hop)),
           tuple(argMinIf(Amount, at_order, Amount IS NOT NULL), argMinIf(Currency, at_order, Amount IS NOT NULL)))
            AS value,
        -- the rules' stages' hops, in time order (then span id): (stage, keys, time, span id)
        arraySort(x -> (x.3, x.4), groupArrayIf((Stage, keys, Timestamp, SpanId), in_stages)) AS stage_hops
    FROM (
        SELECT
            BizKey, Timestamp, Amount, Currency, SpanId, Stage,
            -- by time, then span id, as transactions.sql orders hops
            bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64) + toUInt128(cityHash64(SpanId)) AS at_order,
            -- what a rule can pair a hop by ({match_indexes} index it)
            [BizKey, OrderId, CustomerId, InvoiceId, ShipmentId, ReturnId] AS keys,
            Stage != '' AND Stage = {value_stage:String} AND Amount IS NOT NULL AND went_through AS value_hop,
            has(arrayFlatten({rule_stages:Array(Array(String))}), Stage)
                AND Timestamp >= {since:DateTime64(9)} - toIntervalSecond(arrayMax({lookbacks:Array(UInt32)})) AS in_stages
        FROM ${business_hops}
        WHERE BizProcess = {process:String} AND Timestamp <= {now:DateTime64(9)}
          -- a hop no transaction owns yet counts for a pair by its match key (whichever key a rule pairs by)
          AND (BizKey IN $pair_keys
               OR (BizKey = '' AND (OrderId IN $match_keys OR CustomerId IN $match_keys OR InvoiceId IN $match_keys
                                    OR ShipmentId IN $match_keys OR ReturnId IN $match_keys)))
          -- the same hops, found by biz_hops' primary key when the process is keyed by order.id: a hop of
          -- order K carries OrderId K, or none (its key then comes through the key graph, or is '')
          AND (NOT {order_keyed:Bool} OR OrderId = '' OR OrderId IN $pair_keys)
    )
    GROUP BY tx_key
),
pairs AS (
    SELECT rule, match_key, key,
           {match_indexes:Array(UInt8)}[rule + 1] AS match_index,
           {rule_stages:Array(Array(String))}[rule + 1] AS stages,
           {since:DateTime64(9)} - toIntervalSecond({lookbacks:Array(UInt32)}[rule + 1]) AS stages_since
    FROM ($pairs)
)
SELECT
    pairs.rule AS rule,
    pairs.match_key AS match_key,
    pairs.key AS key,
    if(pairs.key = '', NULL, per_key.value.1) AS amount,
    if(pairs.key = '', '', per_key.value.2) AS currency,
    arrayMap(x -> x.4, arrayFilter(x -> has(pairs.stages, x.1) AND x.3 >= pairs.stages_since
                                        AND (pairs.match_key = pairs.key OR x.2[pairs.match_index] = pairs.match_key),
                                   per_key.stage_hops)) AS evidence
FROM pairs
LEFT JOIN per_key ON per_key.tx_key = pairs.key
