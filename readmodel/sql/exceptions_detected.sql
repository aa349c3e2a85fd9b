-- The exceptions detected at {now}, one row per problem, as alerts/exceptions.py `detect` lists
-- them: the stuck, failed and dead-lettered transactions of the classified source (a table or a subquery
-- shaped like snapshot.sql) and the events delivered more than once (duplicates.sql). The caller
-- adds the reconciliation mismatches. A transaction with two duplicated events has two rows.
SELECT process, key, state AS kind, exception_stage AS stage, system,
       toDateTime64(assumeNotNull(exception_since), 9) AS since, priority, channel
FROM $classified
WHERE state IN ('stuck', 'failed', 'dead_letter')
UNION ALL
SELECT process, key, 'duplicate' AS kind, stage, system, toDateTime64(last_at, 9) AS since, '' AS priority,
       '' AS channel
FROM ($duplicates)
