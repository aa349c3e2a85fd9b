-- Time to resolve, in seconds, over the resolved exceptions of the queue (a table of
-- exceptions_queue.sql's rows): resolution_s = resolved_at - opened_at. The median and the 90th
-- percentile interpolate between the two nearest values (numpy's default).
SELECT count() AS resolved, quantileExactInclusive(0.5)(resolution_s) AS median_s,
       quantileExactInclusive(0.9)(resolution_s) AS p90_s
FROM {db:Identifier}.{queue:Identifier}
WHERE state = 'resolved' AND resolution_s IS NOT NULL
