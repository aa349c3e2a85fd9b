-- Stage SLA adherence per process, stage and priority (the Overview's heat map): a stage reached
-- within the time its SLA allows (since the previous stage was reached, or since the start) is
-- met; a transaction stuck waiting for a stage is a miss for that stage. Stages without an SLA are
-- not measured. The SLA of a stage, with its per-priority and per-channel overrides (priority
-- first), is looked up by stage code from the same parameters transactions.sql reads
-- (transactions.process_parameters). $snapshot: a table shaped like the dashboard's snapshot
-- (process, priority, channel, state, next_stage, started_at, stages_reached, stages_reached_at).
WITH
    arrayMap(x -> cityHash64(x.1, x.2), {stage_pairs:Array(Tuple(String, String))}) AS pair_hashes,
    arrayMap(x -> cityHash64(x.1, x.2), {priority_codes:Array(Tuple(UInt32, String))}) AS priority_hashes,
    arrayMap(x -> cityHash64(x.1, x.2), {channel_codes:Array(Tuple(UInt32, String))}) AS channel_hashes
SELECT process, stage, priority, toUInt64(sum(met)) AS met, count() AS measured, met / measured AS adherence
FROM (
    SELECT process, priority, stage, met
    FROM (
        SELECT process, priority, channel, stages_reached[i] AS stage,
            toUInt32(indexOf({processes:Array(String)}, process) * {stage_code_base:UInt32}
                     + transform(cityHash64(process, stage), pair_hashes, {stage_pair_index:Array(UInt16)}, toUInt16(0)))
                AS code,
            transform(cityHash64(code, priority), priority_hashes, {priority_sla_s:Array(Float64)},
                transform(cityHash64(code, channel), channel_hashes, {channel_sla_s:Array(Float64)},
                    transform(code, {stage_codes:Array(UInt32)}, {index_sla_s:Array(Float64)}, toFloat64(0)))) AS sla_s,
            if(transform(code, {stage_codes:Array(UInt32)}, {index_since_start:Array(UInt8)}, toUInt8(0)) = 1,
               started_at, stages_reached_at[i - 1]) AS sla_from,
            toUInt8(dateDiff('millisecond', sla_from, stages_reached_at[i]) <= sla_s * 1000) AS met
        FROM $snapshot
        ARRAY JOIN arrayEnumerate(stages_reached) AS i
        WHERE i > 1 AND sla_s > 0 AND $filters
    )
    UNION ALL
    SELECT process, priority, next_stage AS stage, toUInt8(0) AS met
    FROM $snapshot
    WHERE state = 'stuck' AND $filters
)
GROUP BY process, stage, priority
ORDER BY process, stage, priority
