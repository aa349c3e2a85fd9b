-- The scorecard rows: the {limit} scopes with the most transactions started in the current period
-- (ties by name), and how many scopes there are in all. {snapshot:Identifier}: scorecard_snapshot.sql.
SELECT scope, countIf(period = 'current') AS transactions, count() OVER () AS scopes
FROM {db:Identifier}.{snapshot:Identifier}
GROUP BY scope
ORDER BY transactions DESC, scope
LIMIT {limit:UInt32}
