-- Hops biztrace could not place in a process, per stage, between {since} and {now}:
--   shared_stage   the stage belongs to two or more configured processes and the hop does not say
--                  biz.process (CONVENTIONS v2: reported, never guessed);
--   unknown_stage  no configured process declares the stage (a typo, or a process not configured):
--                  the hop still counts as a hop of its key's process, but reaches no stage.
-- With a few examples each (newest first), for `db status` and the API.
SELECT
    if(has({stage_names:Array(String)}, Stage), 'shared_stage', 'unknown_stage') AS reason,
    Stage AS stage,
    count() AS hops,
    min(Timestamp) AS first_at,
    max(Timestamp) AS last_at,
    arraySlice(arrayReverseSort(x -> x.1,
        groupArray(100)((Timestamp, TraceId, SpanId, ServiceName, SpanName, BizProcess))), 1, {examples:UInt32})
        AS examples
FROM ${business_hops}
WHERE Stage != '' AND Timestamp >= {since:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}
  AND ((BizProcess = '' AND has({stage_names:Array(String)}, Stage)) OR NOT has({stage_names:Array(String)}, Stage))
GROUP BY reason, stage
ORDER BY reason, hops DESC, stage
