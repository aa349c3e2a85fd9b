-- The value at risk behind alerts (CONVENTIONS: a transaction's amount and currency), per label group
-- of one rule (a tuple of its grouping labels) and currency. The transactions are the ones
-- alert_transactions.sql lists: the same source (the pass's snapshot table), the same filters (the
-- rule's process/stage/system and the alert's labels) and the rule kind's condition (for a hop or
-- reconciliation rule: the keys recorded with the alert).
-- `without_amount` counts the transactions that carried no amount (their currency is '').
-- The sum is exact (decimal: each amount as it was sent, to 6 places), so it does not depend on the order
-- the rows are added in (one node, shards, threads): a float sum differed in its last digit.
SELECT $group AS labels, currency, toFloat64(sum(toDecimal128OrNull(toString(amount), 6))) AS value, count() AS transactions,
       countIf(amount IS NULL) AS without_amount
FROM $source
WHERE $filters AND $condition
GROUP BY labels, currency
