-- The scorecards' view of the transactions started in [{previous_start}, {now}], classified at
-- {now} by transactions.sql (the Overview's snapshot, dashboard/sql/snapshot.sql, has the same
-- columns, and the system at fault is system_at_fault.sql's), with:
--   period  'current' (started at or after {start}) or 'previous' (started before it)
--   scope   the row of the scorecard: the transaction's customer, trading partner, channel or
--           system at fault ({by}); '(none)' when the transaction has none (never left out)
SELECT
    process, key, state, current_stage, next_stage, next_system, due_at, started_at, completed_at, last_at,
    priority, channel, customer, partner, hops, stages_reached, stages_reached_at, amount, currency,
    $system_at_fault AS system,
    -- what the exception queue's detection reads of a transaction in trouble (exceptions_detected.sql reads
    -- this table: the transactions are classified once)
    ${exception_columns}, current_stage_at, error_type,
    if(started_at >= {start:DateTime64(9)}, 'current', 'previous') AS period,
    multiIf({by:String} = 'customer', customer, {by:String} = 'partner', toString(partner),
            {by:String} = 'channel', toString(channel), toString(system)) AS scope_value,
    if(scope_value = '', '(none)', scope_value) AS scope
FROM ($transactions)
WHERE started_at <= {now:DateTime64(9)}
