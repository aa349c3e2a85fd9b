-- Messages parked in a dead-letter queue in the window.
SELECT $group, toFloat64(countIf(DeadLetter)) AS value, arraySlice(groupUniqArrayIf(OrderId, DeadLetter), 1, 50) AS keys
FROM (SELECT Process AS process, System AS system, Stage AS stage, DeadLetter, OrderId
      FROM {db:Identifier}.biz_hops
      WHERE Timestamp >= {window_start:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)})
WHERE $filters
GROUP BY $group
