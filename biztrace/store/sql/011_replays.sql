-- Replays asked of the middleware: one row when a replay is requested (who, with which roles,
-- which transaction and exception, which target and the target's URL template: its environment-variable secrets
-- unresolved, never their values), one row with its outcome (accepted, refused, timed_out,
-- failed; the HTTP status and the first line of the answer). Rows are only ever added (the audit
-- trail); a request's state is its latest row (readmodel/replays.py).
CREATE TABLE IF NOT EXISTS ${db}.biztrace_replays ${on_cluster} (
    At DateTime64(3),
    RequestId String,
    Event LowCardinality(String),
    Process LowCardinality(String),
    Key String,
    Kind LowCardinality(String),
    Stage String,
    AwaitedStage String,
    System LowCardinality(String),
    Target LowCardinality(String),
    Method LowCardinality(String),
    Url String,
    Actor String,
    Roles Array(LowCardinality(String)),
    Outcome LowCardinality(String),
    HttpStatus UInt16,
    Detail String,
    ElapsedMs UInt32
) ENGINE = ${merge_tree}
ORDER BY (Process, Key, Kind, RequestId, At);
