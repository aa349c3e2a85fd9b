-- The queue's totals per process, kind and state (over a table of exceptions_queue.sql's rows).
SELECT process, kind, state, count() AS exceptions
FROM {db:Identifier}.{queue:Identifier}
GROUP BY process, kind, state
ORDER BY process, kind, state
