-- Messages parked in a dead-letter queue in the window.
SELECT $group, toFloat64(countIf(DeadLetter)) AS value, arraySlice(arraySort(groupUniqArrayIf(key, DeadLetter AND key != '')), 1, 50) AS keys
FROM (SELECT BizProcess AS process, System AS system, Stage AS stage, DeadLetter, BizKey AS key
      FROM ${business_hops}
      WHERE Timestamp >= {window_start:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)})
WHERE $filters
GROUP BY $group
