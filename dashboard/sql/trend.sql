-- Transactions started per time bucket and what became of them.
SELECT toStartOfInterval(started_at, toIntervalSecond({bucket_s:UInt32})) AS bucket, process,
       count() AS started, countIf(state = 'complete') AS complete, countIf(state = 'in_flight') AS in_flight,
       countIf(state = 'stuck') AS stuck, countIf(state IN ('failed', 'dead_letter')) AS failed
FROM {snapshot:Identifier}
WHERE {system:String} = '' OR system = {system:String}
GROUP BY bucket, process
ORDER BY bucket, process
