-- Share of open transactions (not complete) that are past their SLA, per group.
-- sample: the open transactions it is a share of (a rule's min_sample).
SELECT $group, countIf(state = 'stuck') / greatest(countIf(state != 'complete'), 1) AS value,
       countIf(state != 'complete') AS sample,
       arraySlice(arraySort(groupArrayIf(key, state = 'stuck')), 1, 50) AS keys
FROM $snapshot
WHERE $filters
GROUP BY $group
