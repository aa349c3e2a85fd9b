-- End-to-end SLA adherence: of the transactions completed in the window, and those stuck,
-- the share completed within the process's end_to_end SLA. Fires when it drops below target.
SELECT $group,
       countIf(completed_at IS NOT NULL AND dateDiff('second', started_at, completed_at)
               <= transform(process, {e2e_processes:Array(String)}, {e2e_s:Array(Float64)}, toFloat64(0)))
         / greatest(countIf(completed_at IS NOT NULL) + countIf(state = 'stuck'), 1) AS value,
       arraySlice(groupArrayIf(key, state = 'stuck' OR (completed_at IS NOT NULL
               AND dateDiff('second', started_at, completed_at)
               > transform(process, {e2e_processes:Array(String)}, {e2e_s:Array(Float64)}, toFloat64(0)))), 1, 50) AS keys,
       countIf(completed_at IS NOT NULL) + countIf(state = 'stuck') AS measured
FROM $snapshot
WHERE $filters AND (state = 'stuck' OR completed_at >= {window_start:DateTime64(9)})
GROUP BY $group
HAVING measured > 0
