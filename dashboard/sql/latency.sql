-- p95 and median hop latency per system and stage over the window, in milliseconds; hops read through
-- hop_process.sql (queries.hop_latency fills it in), so the process filter is the hop's placed process.
SELECT System AS system, Stage AS stage, count() AS hops,
       -- both from one sort of each group's durations (the same aggregate twice is computed once)
       quantilesExactInclusive(0.5, 0.95)(Duration)[1] / 1e6 AS p50_ms,
       quantilesExactInclusive(0.5, 0.95)(Duration)[2] / 1e6 AS p95_ms,
       countIf(StatusCode = 'Error') / hops AS error_rate
FROM ${hop_process}
WHERE Timestamp >= {since:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}
  AND ({process:String} = '' OR BizProcess = {process:String})
  AND ({channel:String} = '' OR Channel = {channel:String})
  AND ({priority:String} = '' OR Priority = {priority:String})
  AND ({system:String} = '' OR System = {system:String})
GROUP BY system, stage
ORDER BY system, stage
