-- One evaluation pass's view of every transaction, computed once and read by every rule.
-- `system` is the system at fault: the one expected next for a stuck transaction, the one
-- whose hop failed or dead-lettered, otherwise the last one seen.
SELECT
    process, key, state, current_stage AS stage, channel, priority, started_at, last_at, completed_at, due_at,
    multiIf(state = 'stuck', if(next_system != '', next_system, last_system),
            state IN ('failed', 'dead_letter'), trouble_system, last_system) AS system
FROM ($transactions)
