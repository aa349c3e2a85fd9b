-- Share of open transactions (not complete) that are past their SLA, per group.
SELECT $group, countIf(state = 'stuck') / greatest(countIf(state != 'complete'), 1) AS value,
       arraySlice(arraySort(groupArrayIf(key, state = 'stuck')), 1, 50) AS keys
FROM $snapshot
WHERE $filters
GROUP BY $group
