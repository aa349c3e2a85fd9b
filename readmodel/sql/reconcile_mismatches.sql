-- The mismatched pairs among {match_keys} (flagged by reconcile_parity.sql), judged again on
-- their own hops only (reconcile.sql), with their evidence: the span ids of every
-- observation of the two stages for the match key in the window, whatever its system or status,
-- in time order (a plain groupArray's order depends on how the threads read, so two asks could differ).
SELECT
    pairs.key AS key, pairs.match_key AS match_key, pairs.field AS field, pairs.channel AS channel,
    pairs.currency AS currency, pairs.left_amount AS left_amount, pairs.right_amount AS right_amount,
    pairs.left_quantity AS left_quantity, pairs.right_quantity AS right_quantity,
    pairs.left_status AS left_status, pairs.right_status AS right_status,
    pairs.left_system AS left_system, pairs.right_system AS right_system,
    pairs.has_left AS has_left, pairs.has_right AS has_right, pairs.last_at AS last_at,
    evidence.span_ids AS evidence
FROM ($pairs) AS pairs
LEFT JOIN (
    SELECT {match_col:Identifier} AS match_key, arrayMap(x -> x.2, arraySort(groupArray((Timestamp, SpanId)))) AS span_ids
    FROM {db:Identifier}.biz_hops
    PREWHERE Process = {process:String} AND Stage IN ({left_stage:String}, {right_stage:String})
    WHERE Timestamp >= {since:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}
      AND match_key IN {match_keys:Array(String)}
    GROUP BY match_key
) AS evidence ON evidence.match_key = pairs.match_key
WHERE pairs.mismatched AND ({keys:Array(String)} = [] OR has({keys:Array(String)}, pairs.key))
