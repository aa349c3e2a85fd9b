-- Stage SLA adherence per process, stage and priority (the Overview's heat map): of the stage
-- SLA measurements of stage_sla_rows.sql (the one definition: a stage reached within the time its
-- SLA allows is met; a transaction stuck waiting for a stage is a miss for that stage; the SLA
-- with its contractual, per-priority and per-channel overrides), the share met.
-- the snapshot (`snapshot`): a table shaped like the dashboard's snapshot (see stage_sla_rows.sql).
SELECT process, measured_stage AS stage, priority, toUInt64(sum(met)) AS met, count() AS measured,
    met / measured AS adherence
FROM ${stage_sla_rows}
GROUP BY process, stage, priority
ORDER BY process, stage, priority
