-- The process map: for each pair of consecutive stages a transaction reached, how many
-- transactions made the step and the median time it took.
SELECT process, from_stage, to_stage, count() AS transactions, quantileExactInclusive(0.5)(seconds) AS median_s
FROM (
    SELECT process,
           arrayJoin(arrayZip(arrayPushFront(stages_reached, '(start)'),
                              arrayPushBack(stages_reached, if(state = 'complete', '(complete)', concat('(', state, ')'))),
                              arrayPushFront(stages_reached_at, started_at),
                              arrayPushBack(stages_reached_at, last_at))) AS step,
           step.1 AS from_stage, step.2 AS to_stage,
           greatest(dateDiff('millisecond', step.3, step.4), 0) / 1000 AS seconds
    FROM {snapshot:Identifier}
    WHERE {system:String} = '' OR system = {system:String}
)
GROUP BY process, from_stage, to_stage
ORDER BY process, transactions DESC
