-- One row per stage SLA measurement over the snapshot (`snapshot`) (the one definition the Overview's heat map,
-- stage_sla.sql, and the scorecards, scorecard.sql, aggregate): every column of the snapshot (`snapshot`), and
--   measured_stage  the stage measured
--   met             1: reached within the time its SLA allows (since the previous stage was reached,
--                   or since the start); 0: reached later, or the transaction is stuck waiting for it
--   stage_ms        how long reaching it took (from where its SLA counts); NULL for a stuck one
-- Stages without an SLA are not measured. The SLA of a stage is a contract's (by_customer, then
-- by_partner), else its per-priority, then per-channel override, else its own: looked up by stage
-- code from the same parameters transactions.sql reads (transactions.process_parameters).
-- the snapshot (`snapshot`): a table shaped like the dashboard's snapshot (process, priority, channel, customer,
-- partner, state, next_stage, started_at, stages_reached, stages_reached_at). The working columns
-- of the first branch (code, sla_s, sla_from) are left out by name, so both branches have the same.
WITH
    arrayMap(x -> cityHash64(x.1, x.2), {stage_pairs:Array(Tuple(String, String))}) AS pair_hashes,
    arrayMap(x -> cityHash64(x.1, x.2), {priority_codes:Array(Tuple(UInt32, String))}) AS priority_hashes,
    arrayMap(x -> cityHash64(x.1, x.2), {channel_codes:Array(Tuple(UInt32, String))}) AS channel_hashes,
    arrayMap(x -> cityHash64(x.1, x.2), {customer_codes:Array(Tuple(UInt32, String))}) AS customer_hashes,
    arrayMap(x -> cityHash64(x.1, x.2), {partner_codes:Array(Tuple(UInt32, String))}) AS partner_hashes
SELECT * EXCEPT (code, sla_s, sla_from, sla_calendar)
FROM (
    SELECT *, stage_reached AS measured_stage,
        toUInt32(indexOf({processes:Array(String)}, process) * {stage_code_base:UInt32}
                 + transform(cityHash64(process, measured_stage), pair_hashes, {stage_pair_index:Array(UInt16)},
                             toUInt16(0)))
            AS code,
        transform(if(empty(customer_hashes), 0, cityHash64(code, toString(customer))), customer_hashes, {customer_sla_s:Array(Float64)},
        transform(if(empty(partner_hashes), 0, cityHash64(code, toString(partner))), partner_hashes, {partner_sla_s:Array(Float64)},
        transform(if(empty(priority_hashes), 0, cityHash64(code, priority)), priority_hashes, {priority_sla_s:Array(Float64)},
            transform(if(empty(channel_hashes), 0, cityHash64(code, channel)), channel_hashes, {channel_sla_s:Array(Float64)},
                transform(code, {stage_codes:Array(UInt32)}, {index_sla_s:Array(Float64)}, toFloat64(0)))))) AS sla_s,
        -- (an override nobody configured hashes nothing: its lookup is of the constant 0 in an empty list)
        if(transform(code, {stage_codes:Array(UInt32)}, {index_since_start:Array(UInt8)}, toUInt8(0)) = 1,
           started_at, reached_before) AS sla_from,
        -- the clock: the stage's business calendar (calendars.py; 0: 24x7) counts working time only (clock.sql)
        transform(code, {stage_codes:Array(UInt32)}, {index_calendar:Array(UInt16)}, toUInt16(0)) AS sla_calendar,
        toUInt8(if(sla_calendar = 0, dateDiff('millisecond', sla_from, reached_at),
                   ${business_ms:sla_calendar,reached_at} - ${business_start_ms:sla_calendar,sla_from})
                <= sla_s * 1000) AS met,
        toNullable(dateDiff('millisecond', sla_from, reached_at)) AS stage_ms
    FROM $snapshot
    -- each stage reached, beside when it was and when the stage before it was: the arrays unrolled side by side
    -- (indexing them by position after an ARRAY JOIN copied both arrays onto every row: 7 stages, 7 copies)
    ARRAY JOIN stages_reached AS stage_reached, stages_reached_at AS reached_at,
               arrayPopBack(arrayPushFront(stages_reached_at, started_at)) AS reached_before,
               arrayEnumerate(stages_reached) AS i
    WHERE i > 1 AND sla_s > 0 AND $filters
)
UNION ALL
SELECT *, next_stage AS measured_stage, toUInt8(0) AS met, CAST(NULL AS Nullable(Int64)) AS stage_ms
FROM $snapshot
WHERE state = 'stuck' AND $filters
