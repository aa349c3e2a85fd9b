-- SLA adherence per process, stage and priority: a stage reached within the time its SLA
-- allows (since the previous stage reached, or since the start) is met; a transaction stuck
-- waiting for a stage is a miss for that stage. Stages without an SLA are not measured.
SELECT process, stage, priority, sum(met) AS met, count() AS measured, met / measured AS adherence
FROM (
    SELECT process, priority, stage, met
    FROM (
        SELECT process, priority, stages_reached[i] AS stage,
               concat(process, '|', stage) AS stage_key,
               transform(concat(stage_key, '|', priority), {priority_keys:Array(String)}, {priority_sla_s:Array(Float64)},
                   transform(concat(stage_key, '|', channel), {channel_keys:Array(String)}, {channel_sla_s:Array(Float64)},
                       transform(stage_key, {stage_keys:Array(String)}, {stage_sla_s:Array(Float64)}, toFloat64(0))))
                   AS sla_s,
               if(transform(stage_key, {stage_keys:Array(String)}, {stage_since_start:Array(UInt8)}, toUInt8(0)) = 1,
                  started_at, stages_reached_at[i - 1]) AS sla_from,
               toUInt8(dateDiff('millisecond', sla_from, stages_reached_at[i]) <= sla_s * 1000) AS met
        FROM {snapshot:Identifier}
        ARRAY JOIN arrayEnumerate(stages_reached) AS i
        WHERE i > 1 AND sla_s > 0 AND ({system:String} = '' OR system = {system:String})
    )
    UNION ALL
    SELECT process, priority, next_stage AS stage, toUInt8(0) AS met
    FROM {snapshot:Identifier}
    WHERE state = 'stuck' AND ({system:String} = '' OR system = {system:String})
)
GROUP BY process, stage, priority
ORDER BY process, stage, priority
