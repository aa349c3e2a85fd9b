-- Money stuck per stage: per process, the stage its transactions stopped at (the exception's stage, as
-- exceptions_detected.sql names it) and their state (stuck, failed, dead_letter), the summed value
-- (CONVENTIONS: a transaction's amount and currency) per currency, how many transactions and how many of
-- them carried no amount. Over snapshot.sql, narrowed like the Overview: started since {since}
-- (transactions.sql) and by {until}, and the sidebar's channel, priority and system at fault ('' = all).
-- The sum is exact (decimal: each amount as it was sent, to 6 places), so it does not depend on the order
-- the rows are added in (one node, shards, threads): a float sum differed in its last digit.
SELECT process, exception_stage AS stage, state, currency, toFloat64(sum(toDecimal128OrNull(toString(amount), 6))) AS value, count() AS transactions,
       countIf(amount IS NULL) AS without_amount
FROM ($snapshot)
WHERE state IN ('stuck', 'failed', 'dead_letter')
  AND started_at <= {until:DateTime64(9)}
  AND ({channel:String} = '' OR channel = {channel:String})
  AND ({priority:String} = '' OR priority = {priority:String})
  AND ({system:String} = '' OR system = {system:String})
GROUP BY process, stage, state, currency
ORDER BY process, stage, state, currency
