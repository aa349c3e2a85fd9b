-- A few keys' transactions read from a kept snapshot ($kept, snapshot.sql's columns: snapshots.py's
-- kept_transactions) and brought to {now} as snapshot_aged.sql brings every row a hop did not touch:
-- an in-flight transaction whose next stage has fallen overdue is stuck now (${overdue}), and its age
-- counts to {now}. The columns are transactions.sql's, as the Transaction model reads them.
SELECT
    process, key, if(state = 'in_flight' AND ${overdue}, 'stuck', state) AS state, stage AS current_stage,
    current_stage_at, next_stage, next_system, due_at, started_at, last_at,
    dateDiff('second', started_at, {now:DateTime64(9)}) AS age_s,
    first_system, last_system, last_hop_stage, last_span, trouble_at, trouble_stage, trouble_system, trouble_span,
    error_type, priority, channel, amount, currency, hops, stages_reached, stages_reached_at
FROM $kept
WHERE key IN {keys:Array(String)}
