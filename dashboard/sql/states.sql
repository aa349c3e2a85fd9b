-- Transactions per process and state, and where the unfinished ones wait.
SELECT process, state, if(state = 'complete', '', next_stage) AS waiting_for, system, priority, count() AS transactions
FROM {snapshot:Identifier}
WHERE {system:String} = '' OR system = {system:String}
GROUP BY process, state, waiting_for, system, priority
ORDER BY transactions DESC
