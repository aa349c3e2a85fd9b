-- Per process, period, system and channel: how many transactions each system saw (order-count
-- parity) and how many business events it received more than once (duplicate message rate). Hops
-- are read through business_hops: placed in their process and keyed by its key, whatever they said.
-- {process_filter}: only that process ('' for every configured one); one pass for all of them.
-- Distinct keys and events are counted by their 64-bit hashes (uniqExact of a string keeps a 128-bit
-- hash of each: 2.5x the time at a day of 1M orders); two of a group's values sharing a hash, which
-- would count them once, has a chance below 1 in 10^6 at 4M distinct values.
SELECT
    BizProcess AS process,
    toDateTime($bucket(Timestamp)) AS period,
    System AS system,
    Channel AS channel,
    uniqExactIf(cityHash64(BizKey), BizKey != '') AS transactions,
    -- deliveries of business events: hops with an event id that went through (placement.sql's went_through, as
    -- duplicates.sql counts: one that ended in ERROR or was dead-lettered delivered nothing)
    countIf(delivered) AS events,
    countIf(delivered) - uniqExactIf(cityHash64(EventId), delivered) AS duplicate_events,
    if(countIf(delivered) > 0, (countIf(delivered) - uniqExactIf(cityHash64(EventId), delivered)) / countIf(delivered), 0)
        AS duplicate_rate
FROM (SELECT *, EventId != '' AND went_through AS delivered FROM ${business_hops})
WHERE BizProcess IN {processes:Array(String)} AND ({process_filter:String} = '' OR BizProcess = {process_filter:String})
  AND Timestamp >= {since:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}
  AND ({channel_filter:String} = '' OR Channel = {channel_filter:String})
  AND ({system_filter:String} = '' OR System = {system_filter:String})
GROUP BY process, period, system, channel
ORDER BY process, period, system, channel
