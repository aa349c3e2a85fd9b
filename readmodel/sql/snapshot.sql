-- One evaluation pass's view of every transaction, computed once and read by every rule and by
-- the exception bookkeeping. `system` is the system at fault: the one expected next for a stuck
-- transaction, the one whose hop failed or dead-lettered, otherwise the last one seen. For a
-- transaction in trouble, `exception_stage` and `exception_since` say where and since when (a
-- stuck one since its SLA was breached, a failed or dead-lettered one since the hop that did it).
SELECT
    process, key, state, current_stage AS stage, channel, priority, started_at, last_at, completed_at, due_at,
    multiIf(state = 'stuck', if(next_system != '', next_system, last_system),
            state IN ('failed', 'dead_letter'), trouble_system, last_system) AS system,
    if(state = 'stuck' OR trouble_stage = '', current_stage, trouble_stage) AS exception_stage,
    multiIf(state = 'stuck', due_at, state IN ('failed', 'dead_letter'), trouble_at, NULL) AS exception_since
FROM ($transactions)
