-- Postponements of exceptions: a person takes one exception, (Process, Key, Kind), out of the open
-- queue until a time to come (Until), with who and why; an un-postponement is a row whose Until is
-- epoch 0. Rows are only ever added (the audit trail); an exception's postponement is its latest
-- row, applied at read time against the moment asked (readmodel/sql/lifecycle.sql): nothing runs when
-- the time passes. Comments are rows of biztrace_exception_events (Action 'comment', the text in Note).
CREATE TABLE IF NOT EXISTS ${db}.biztrace_exception_postponements ${on_cluster} (
    At DateTime64(3),
    Process LowCardinality(String),
    Key String,
    Kind LowCardinality(String),
    Until DateTime64(3),
    Actor String,
    Note String
) ENGINE = ${merge_tree}
ORDER BY (Process, Key, Kind, At);
