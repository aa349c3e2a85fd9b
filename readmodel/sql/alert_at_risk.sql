-- The value at risk behind alerts (CONVENTIONS: a transaction's amount and currency), per label group
-- of one rule (a tuple of its grouping labels) and currency. The transactions are the ones
-- alert_transactions.sql lists: the same source (the pass's snapshot table), the same filters (the
-- rule's process/stage/system and the alert's labels) and the rule kind's condition (for a hop or
-- reconciliation rule: the keys recorded with the alert).
-- `without_amount` counts the transactions that carried no amount (their currency is '').
SELECT $group AS labels, currency, sum(amount) AS value, count() AS transactions,
       countIf(amount IS NULL) AS without_amount
FROM $source
WHERE $filters AND $condition
GROUP BY labels, currency
