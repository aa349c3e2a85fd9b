-- Per scope and period: the exceptions of the queue (exceptions_queue.sql, every state) of the
-- snapshot's transactions by kind, a mismatch by the field that disagrees (reconcile.py), and the
-- money affected: the value of the transactions with at least one exception, per currency
-- (transactions.sql's amount; those without one counted apart).
-- {queue:Identifier}: the queue's table; {snapshot:Identifier}: scorecard_snapshot.sql.
WITH queued AS (
    SELECT s.scope AS scope, s.period AS period, q.kind AS kind,
        if(q.kind = 'mismatch', JSONExtractString(q.detail, 'field'), '') AS field
    FROM {db:Identifier}.{queue:Identifier} AS q
    INNER JOIN {db:Identifier}.{snapshot:Identifier} AS s ON s.process = q.process AND s.key = q.key
    WHERE s.scope IN {scopes:Array(String)}
)
SELECT 'exceptions' AS figure, scope, period, kind AS name, toFloat64(count()) AS value, toUInt64(0) AS transactions,
    toUInt64(0) AS without_amount
FROM queued
GROUP BY scope, period, kind
UNION ALL
SELECT 'mismatches', scope, period, field, toFloat64(count()), 0, 0
FROM queued
WHERE kind = 'mismatch'
GROUP BY scope, period, field
UNION ALL
SELECT 'money', scope, period, currency, sum(ifNull(amount, 0)), count(), countIf(amount IS NULL)
FROM {db:Identifier}.{snapshot:Identifier}
WHERE scope IN {scopes:Array(String)}
  AND (process, key) IN (SELECT process, key FROM {db:Identifier}.{queue:Identifier})
GROUP BY scope, period, currency
