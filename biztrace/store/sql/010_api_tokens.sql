-- API tokens: who may call the HTTP API with which roles. Only a SHA-256 of each token's secret
-- is kept (a token is 256 random bits, so a slow password hash adds nothing). Every change is a
-- new row — create, revoke — with who did it: the audit trail; the current state is the latest row.
CREATE TABLE IF NOT EXISTS ${db}.biztrace_api_tokens ${on_cluster} (
    At DateTime64(3),
    Id String,
    Name String,
    Roles Array(LowCardinality(String)),
    Hash String,
    Action LowCardinality(String),
    Actor String
) ENGINE = ${merge_tree}
ORDER BY (Id, At);
