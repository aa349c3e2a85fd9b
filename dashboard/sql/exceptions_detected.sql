-- The exceptions detected among the window's transactions, one row each, as alerts/exceptions.py
-- `detect` describes them: stuck, failed and dead-lettered transactions (the inner query:
-- alerts/sql/transactions.sql, asked for those states only) and events delivered twice
-- (alerts/sql/duplicates.sql). Mismatches are added by the caller (alerts.reconcile.mismatches).
SELECT process, key, state AS kind,
       if(state = 'stuck' OR trouble_stage = '', current_stage, trouble_stage) AS stage,
       if(state = 'stuck', if(next_system != '', next_system, last_system), trouble_system) AS system,
       toDateTime64(if(state = 'stuck', assumeNotNull(due_at), assumeNotNull(trouble_at)), 9) AS since,
       priority, channel
FROM ($transactions)
UNION ALL
SELECT process, key, 'duplicate' AS kind, stage, system, toDateTime64(last_at, 9) AS since, '' AS priority,
       '' AS channel
FROM ($duplicates)
