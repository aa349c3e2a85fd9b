-- Every transaction behind one alert of a snapshot rule, not only the 50 the alert keeps: the rule's
-- own filters and the alert's labels on the pass's snapshot (snapshot.sql), with the rule kind's
-- condition ($condition: stuck for stuck_count/stuck_share, failed in the window for error_rate).
-- `amount`, `currency`: the transaction's value (CONVENTIONS). `total` is the count over every page.
-- alert_at_risk.sql sums the same transactions' values.
SELECT process, key, state, exception_stage AS stage, system, channel, priority, exception_since AS since,
       amount, currency, count() OVER () AS total
FROM ($snapshot)
WHERE $filters AND $condition
ORDER BY exception_since IS NULL, exception_since, key
LIMIT {limit:UInt32} OFFSET {offset:UInt32}
