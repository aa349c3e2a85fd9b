-- The rows of a full export of the exception queue: exactly the list's rows (the list:
-- exceptions_list.sql over the queue table, every row, in the list's order), with the value of an
-- exception whose transaction was not classified with it (a duplicate of an otherwise healthy
-- order, a resolved one no longer detected) taken from the transaction itself, as the list does:
-- the values table holds transactions.sql's (process, key, amount, currency) of those keys (or no row).
-- The export's formats (exports_exceptions_csv.sql, exports_exceptions_json.sql) select from it.
SELECT l.*,
    l.amount IS NULL AND v.process != '' AS valued,
    if(valued, v.amount, l.amount) AS value,
    if(valued, v.currency, l.currency) AS value_currency,
    transform(concat(l.process, '/', l.kind), {runbook_pairs:Array(String)}, {runbook_urls:Array(String)},
              transform(l.kind, {runbook_kinds:Array(String)}, {runbook_any:Array(String)}, '')) AS runbook
FROM ($listed) AS l
LEFT JOIN $values AS v ON v.process = l.process AND v.key = l.key
ORDER BY $order
