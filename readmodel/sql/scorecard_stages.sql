-- Per scope, period, process and stage: the stage SLA adherence from the measurements of
-- stage_sla_rows.sql (the Overview heat map's definition), and the stage times' p50 and p90 (seconds,
-- the exact quantile interpolated between the two nearest times: quantilesExactInclusive; a stuck
-- transaction has no time yet and is not in them). Over every stage, a scope's adherence is the sum
-- of these rows' met over the sum of their measured (scorecard_rows.sql adds them up: a grouping set of
-- (scope, period) here computed the quantiles of every stage together, which nothing reads). Unordered:
-- scorecard_rows.sql sorts each scope's stages.
SELECT scope, period, process, measured_stage AS stage, toUInt64(sum(met)) AS met, count() AS measured,
    -- both from one sort of each group's times (the same aggregate twice is computed once; two
    -- quantileExactInclusive sort them twice)
    quantilesExactInclusive(0.5, 0.9)(stage_ms)[1] / 1000 AS p50_s,
    quantilesExactInclusive(0.5, 0.9)(stage_ms)[2] / 1000 AS p90_s
FROM ${stage_sla_rows}
GROUP BY scope, period, process, stage
