-- The dashboard's view of the transactions started in the selected window, computed once per
-- refresh into a Memory table that the page's figures read (the inner query: readmodel/sql/transactions.sql;
-- the system at fault: readmodel/sql/system_at_fault.sql, as the alert pass's snapshot says it; the
-- stage an exception names: readmodel/sql/exception_stage.sql). The money stuck per stage
-- (readmodel/sql/money_stuck.sql) is summed from this table too.
SELECT
    process, key, state, current_stage, next_stage, next_system, due_at, started_at, completed_at, last_at,
    priority, channel, customer, partner, hops, stages_reached, stages_reached_at,
    $system_at_fault AS system, $exception_stage AS exception_stage, amount, currency
FROM ($transactions)
WHERE ({channel:String} = '' OR channel = {channel:String})
  AND ({priority:String} = '' OR priority = {priority:String})
  AND started_at <= {until:DateTime64(9)}
