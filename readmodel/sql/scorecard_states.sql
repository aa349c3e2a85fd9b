-- Per scope and period: the transactions started, by their state at {now}.
SELECT scope, period, count() AS transactions, countIf(state = 'complete') AS complete,
    countIf(state = 'in_flight') AS in_flight, countIf(state = 'stuck') AS stuck, countIf(state = 'failed') AS failed,
    countIf(state = 'dead_letter') AS dead_letter
FROM {db:Identifier}.{snapshot:Identifier}
WHERE scope IN {scopes:Array(String)}
GROUP BY scope, period
