-- Per period, system and channel: how many transactions each system saw (order-count parity)
-- and how many business events it received more than once (duplicate message rate).
SELECT
    toDateTime($bucket(Timestamp)) AS period,
    System AS system,
    Channel AS channel,
    uniqExact({key_col:Identifier}) AS transactions,
    countIf(EventId != '') AS events,
    countIf(EventId != '') - uniqExactIf(EventId, EventId != '') AS duplicate_events,
    if(countIf(EventId != '') > 0, (countIf(EventId != '') - uniqExactIf(EventId, EventId != '')) / countIf(EventId != ''), 0)
        AS duplicate_rate
FROM {db:Identifier}.biz_hops
WHERE Process = {process:String} AND Timestamp >= {since:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}
  AND ({channel_filter:String} = '' OR Channel = {channel_filter:String})
  AND ({system_filter:String} = '' OR System = {system_filter:String})
GROUP BY period, system, channel
ORDER BY period, system, channel
