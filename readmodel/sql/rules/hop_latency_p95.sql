-- p95 hop latency in milliseconds per system and span name, over the window.
-- sample: the hops the percentile is taken over (a rule's min_sample).
SELECT $group, quantileExactInclusive(0.95)(Duration) / 1e6 AS value, count() AS sample, arraySlice(arraySort(groupUniqArrayIf(key, key != '')), 1, 50) AS keys
FROM (SELECT System AS system, SpanName AS span_name, BizProcess AS process, Stage AS stage, Duration, BizKey AS key
      FROM ${business_hops}
      WHERE Timestamp >= {window_start:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)})
WHERE $filters
GROUP BY $group
