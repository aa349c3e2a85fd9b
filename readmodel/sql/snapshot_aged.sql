-- The previous pass's snapshot rows of the transactions no hop changed since (the touched table lists
-- the keys that changed), brought to {now}. Only time moves them: an in-flight transaction whose next
-- stage has fallen overdue is stuck now (${overdue}, transactions.sql's condition; every other
-- state depends on hops alone). The columns are transactions.sql's, for snapshot.sql to read.
SELECT
    process, key, if(state = 'in_flight' AND ${overdue}, 'stuck', state) AS state, stage AS current_stage,
    channel, priority, started_at, last_at, completed_at, due_at, next_stage, current_stage_at, error_type,
    amount, currency, next_system, last_system, trouble_system, trouble_stage, trouble_at, last_span, trouble_span,
    first_system, last_hop_stage, hops, stages_reached, stages_reached_at, customer, partner, captured
FROM $previous
WHERE key NOT IN (SELECT key FROM $touched)
