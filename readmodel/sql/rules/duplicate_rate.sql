-- Share of business events in the window delivered more than once (a delivery that ended in ERROR or was
-- dead-lettered delivered nothing: placement.sql's went_through, as duplicates.sql counts).
-- sample: the business events it is a share of (a rule's min_sample).
SELECT $group, sum(deliveries - 1) / greatest(count(), 1) AS value, count() AS sample,
       arraySlice(arraySort(groupUniqArrayIf(key, deliveries > 1 AND key != '')), 1, 50) AS keys
FROM (SELECT BizProcess AS process, any(System) AS system, any(Stage) AS stage, EventId, any(BizKey) AS key,
             uniqExact(SpanId) AS deliveries
      FROM ${business_hops}
      WHERE EventId != '' AND Timestamp >= {window_start:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}
        AND went_through
      GROUP BY process, EventId)
WHERE $filters
GROUP BY $group
