-- The evidence and the transaction's value of the mismatched pairs a judging pass flagged
-- (reconcile_parity.sql's `flagged` as arrays of match keys and of their transactions' keys, or the
-- table reconcile_flagged.sql filled: reconcile.py fills in which), in one read of those
-- transactions' hops:
--   evidence: the span ids of every observation of the rule's two stages for the pair since
--     {since} - {lookback_s} (a shipment's, or every one of a transaction compared as a whole),
--     whatever its system or status, in time order;
--   amount, currency: the transaction's value, as sql/transactions.sql defines it (tx_value there; the
--     two must agree): the latest amount its process's value stage (the system of record's
--     acceptance) reported without error, else the first amount seen; NULL when no hop carried one.
WITH per_key AS (
    SELECT
        BizKey AS tx_key,
        if(countIf(value_hop) > 0,
           tuple(argMaxIf(Amount, at_order, value_hop), argMaxIf(Currency, at_order, value_hop)),
           tuple(argMinIf(Amount, at_order, Amount IS NOT NULL), argMinIf(Currency, at_order, Amount IS NOT NULL)))
            AS value,
        arraySort(x -> (x.2, x.3), groupArrayIf((own_match, Timestamp, SpanId), in_stages)) AS stage_hops
    FROM (
        SELECT
            BizKey, Timestamp, Amount, Currency, SpanId,
            -- by time, then span id, as transactions.sql orders hops
            bitShiftLeft(toUInt128(toUnixTimestamp64Nano(Timestamp)), 64) + toUInt128(cityHash64(SpanId)) AS at_order,
            if({by_key:Bool}, BizKey, {match_col:Identifier}) AS own_match,
            Stage != '' AND Stage = {value_stage:String} AND Amount IS NOT NULL AND StatusCode != 'Error' AS value_hop,
            Stage IN ({left_stage:String}, {right_stage:String})
                AND Timestamp >= {since:DateTime64(9)} - toIntervalSecond({lookback_s:UInt32}) AS in_stages
        FROM ${business_hops}
        WHERE BizProcess = {process:String} AND Timestamp <= {now:DateTime64(9)}
          AND (BizKey IN $pair_keys OR (BizKey = '' AND own_match IN $match_keys))
          -- the same hops, found by biz_hops' primary key when the process is keyed by order.id: a hop of
          -- order K carries OrderId K, or none (its key then comes through the key graph, or is '')
          AND (NOT {order_keyed:Bool} OR OrderId = '' OR OrderId IN $pair_keys)
    )
    GROUP BY tx_key
),
pairs AS ($pairs)
SELECT
    pairs.match_key AS match_key,
    pairs.key AS key,
    if(pairs.key = '', NULL, per_key.value.1) AS amount,
    if(pairs.key = '', '', per_key.value.2) AS currency,
    arrayMap(x -> x.3, arrayFilter(x -> pairs.match_key = pairs.key OR x.1 = pairs.match_key, per_key.stage_hops))
        AS evidence
FROM pairs
LEFT JOIN per_key ON per_key.tx_key = pairs.key
