-- Transactions past their SLA, per group.
SELECT $group, toFloat64(countIf(state = 'stuck')) AS value, arraySlice(arraySort(groupArrayIf(key, state = 'stuck')), 1, 50) AS keys
FROM $snapshot
WHERE $filters
GROUP BY $group
