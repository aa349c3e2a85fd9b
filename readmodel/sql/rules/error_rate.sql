-- Share of transactions active in the window that failed (their latest trouble is unresolved).
SELECT $group, countIf(state = 'failed') / greatest(count(), 1) AS value,
       arraySlice(arraySort(groupArrayIf(key, state = 'failed')), 1, 50) AS keys
FROM $snapshot
WHERE $filters AND last_at >= {window_start:DateTime64(9)}
GROUP BY $group
