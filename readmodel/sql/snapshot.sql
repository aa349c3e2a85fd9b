-- One evaluation pass's view of every transaction, computed once and read by every rule and by
-- the exception bookkeeping. `system` is the system at fault (system_at_fault.sql). For a
-- transaction in trouble, `exception_stage` and `exception_since` say where and since when (a
-- stuck one since its SLA was breached, a failed or dead-lettered one since the hop that did it),
-- and `evidence_span` the span that shows it (a stuck one's last hop, the failed or dead-lettered hop).
-- The columns only a listing reads (first_system to stages_reached_at) are kept too, so that a kept
-- snapshot answers a key's transactions with a point read (snapshots.py, `kept_transactions`), and
-- those the scorecards read (customer, partner, captured), so that they read it instead of classifying.
-- The rows read: transactions.sql's, or for a pass that keeps its snapshot (snapshots.py) the rows
-- of the previous one brought to {now} (snapshot_aged.sql), which reads the columns after
-- `currency` back: what turns a row stuck later is computed here, once.
SELECT
    process, key, state, current_stage AS stage, channel, priority, started_at, last_at, completed_at, due_at,
    $system_at_fault AS system,
    ${exception_columns},
    next_stage, current_stage_at, error_type, amount, currency,
    next_system, last_system, trouble_system, trouble_stage, trouble_at, last_span, trouble_span,
    -- dictionary-encoded: a third of the memory these columns would take as plain strings
    toLowCardinality(first_system) AS first_system, toLowCardinality(last_hop_stage) AS last_hop_stage, hops,
    CAST(stages_reached AS Array(LowCardinality(String))) AS stages_reached, stages_reached_at,
    -- what a window read from the kept snapshot needs (sql/kept_started.sql: the scorecards, the dashboard)
    customer, toLowCardinality(partner) AS partner, captured
FROM ($transactions)
