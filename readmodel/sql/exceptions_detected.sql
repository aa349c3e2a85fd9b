-- The exceptions detected at {now}, one row per problem: the one definition of detection that
-- the alert loop's bookkeeping (exceptions_sync.sql), the exception list of the CLI and the API,
-- and the dashboard's queue (exceptions_queue.sql) all read.
--   stuck, failed, dead_letter  the transactions of the classified source (a table or a subquery
--                               shaped like snapshot.sql) in that state
--   duplicate                   an event delivered more than once (duplicates.sql)
-- The caller adds the reconciliation mismatches (reconcile_detected.sql). A transaction with
-- two duplicated events has two rows here; exceptions_queue.sql makes them one exception.
-- `detail` is a JSON object: a stuck one's next stage and when it was due, a failed one's error
-- type, a duplicate's event id and number of deliveries. `amount`, `currency`: the transaction's value
-- (transactions.sql), a duplicate's too: the classified source holds every transaction, not only those in
-- trouble (NULL for a duplicate whose transaction it does not hold, or that carries no amount). `priority`,
-- `channel`: the transaction's, a duplicate's too (the queue's filters and its priority order read them).
SELECT process, key, state AS kind, exception_stage AS stage, system,
       toDateTime64(assumeNotNull(exception_since), 9) AS since, priority, channel,
       [evidence_span] AS evidence,
       multiIf(state = 'stuck',
                   toJSONString(CAST((next_stage, formatDateTime(assumeNotNull(due_at), '%Y-%m-%dT%H:%i:%S.%f'),
                                      formatDateTime(current_stage_at, '%Y-%m-%dT%H:%i:%S.%f')),
                                     'Tuple(next_stage String, due_at String, stage_reached_at String)')),
               state = 'failed', toJSONString(CAST(tuple(error_type), 'Tuple(error_type String)')),
               '{}') AS detail,
       amount, currency
FROM $classified
WHERE state IN ('stuck', 'failed', 'dead_letter')
UNION ALL
SELECT d.process AS process, d.key AS key, 'duplicate' AS kind, d.stage AS stage, d.system AS system,
       toDateTime64(d.last_at, 9) AS since, v.priority AS priority, v.channel AS channel, d.span_ids AS evidence,
       toJSONString(CAST((d.event_id, d.deliveries), 'Tuple(event_id String, deliveries UInt64)')) AS detail,
       v.amount AS amount, v.currency AS currency
-- the transaction's value, priority and channel, whatever its state (read from the classified source,
-- holding every transaction of its window; or no row, for a caller that fills them): every duplicate kept
-- (amount is Nullable: one without a match gets NULL, and '' for the strings); the duplicates, the smaller
-- side, on the right, where the join hashes them (the transactions there: +25%)
FROM (SELECT process, key, amount, currency, priority, channel FROM $values) AS v
RIGHT JOIN ($duplicates) AS d ON v.process = d.process AND v.key = d.key
