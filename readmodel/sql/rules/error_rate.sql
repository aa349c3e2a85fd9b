-- Share of transactions active in the window that failed (their latest trouble is unresolved).
-- sample: the transactions it is a share of (a rule's min_sample).
SELECT $group, countIf(state = 'failed') / greatest(count(), 1) AS value, count() AS sample,
       arraySlice(arraySort(groupArrayIf(key, state = 'failed')), 1, 50) AS keys
FROM $snapshot
WHERE $filters AND last_at >= {window_start:DateTime64(9)}
GROUP BY $group
