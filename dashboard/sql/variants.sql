-- The most common paths (variants) through each process, and how long they took end to end.
SELECT process, arrayStringConcat(stages_reached, ' → ') AS path, state, count() AS transactions,
       quantileExactInclusive(0.5)(dateDiff('second', started_at, last_at)) AS median_s
FROM {snapshot:Identifier}
WHERE {system:String} = '' OR system = {system:String}
GROUP BY process, path, state
ORDER BY transactions DESC
LIMIT {limit:UInt32}
