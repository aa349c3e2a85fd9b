-- Share of business events in the window delivered more than once.
SELECT $group, sum(deliveries - 1) / greatest(count(), 1) AS value,
       arraySlice(groupUniqArrayIf(order_id, deliveries > 1 AND order_id != ''), 1, 50) AS keys
FROM (SELECT Process AS process, any(System) AS system, any(Stage) AS stage, EventId, any(OrderId) AS order_id,
             count() AS deliveries
      FROM {db:Identifier}.biz_hops
      WHERE EventId != '' AND Timestamp >= {window_start:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}
      GROUP BY Process, EventId)
WHERE $filters
GROUP BY $group
