-- State of the alert loop and of people's actions, kept in ClickHouse next to the spans.
-- Every change is a new row (an audit trail); current state is derived by the readers.

-- Exception lifecycle: open, acknowledge, assign, resolve, reopen (who, when, note).
CREATE TABLE IF NOT EXISTS ${db}.biztrace_exception_events ${on_cluster} (
    At DateTime64(3),
    Process LowCardinality(String),
    Key String,
    Kind LowCardinality(String),
    Stage String,
    Action LowCardinality(String),
    Actor String,
    Assignee String,
    Note String
) ENGINE = ${merge_tree}
ORDER BY (Process, Key, Kind, At);

-- Alert instance state transitions: pending, firing, resolved (the alert history).
CREATE TABLE IF NOT EXISTS ${db}.biztrace_alert_events ${on_cluster} (
    At DateTime64(3),
    Rule LowCardinality(String),
    Fingerprint String,
    Labels Map(String, String),
    Annotations Map(String, String),
    State LowCardinality(String),
    Value Float64,
    ActiveSince Nullable(DateTime64(3)),
    Transactions String
) ENGINE = ${merge_tree}
ORDER BY (Fingerprint, At);

-- Notifications sent (or not): one row per delivery attempt outcome.
CREATE TABLE IF NOT EXISTS ${db}.biztrace_notifications ${on_cluster} (
    At DateTime64(3),
    Receiver LowCardinality(String),
    GroupKey String,
    Status LowCardinality(String),
    Channel LowCardinality(String),
    Delivered Bool,
    Attempts UInt16,
    Error String,
    Fingerprints Array(String),
    FiringFingerprints Array(String)
) ENGINE = ${merge_tree}
ORDER BY (GroupKey, At);

-- Silences: a new version of a row replaces the old (expiry sets EndsAt to the moment).
CREATE TABLE IF NOT EXISTS ${db}.biztrace_silences ${on_cluster} (
    Id String,
    Version UInt64,
    CreatedAt DateTime64(3),
    StartsAt DateTime64(3),
    EndsAt DateTime64(3),
    Matchers Map(String, String),
    CreatedBy String,
    Comment String
) ENGINE = ${replacing_merge_tree}
ORDER BY Id;
