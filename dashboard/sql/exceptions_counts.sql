-- The queue's totals per process, kind and state.
SELECT process, kind, state, count() AS exceptions
FROM {queue:Identifier}
GROUP BY process, kind, state
ORDER BY process, kind, state
