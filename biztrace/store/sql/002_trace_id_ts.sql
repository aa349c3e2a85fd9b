-- The exporter's trace-id lookup table and its materialized view.
CREATE TABLE IF NOT EXISTS ${db}.otel_traces_trace_id_ts ${on_cluster} (
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(T64, ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(T64, ZSTD(1))
) ENGINE = ${aggregating_merge_tree}
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
${ttl_start}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otel_traces_trace_id_ts_mv ${on_cluster}
TO ${db}.otel_traces_trace_id_ts
AS SELECT
    TraceId,
    min(toDateTime(Timestamp)) AS Start,
    max(toDateTime(Timestamp)) AS End
FROM ${db}.otel_traces
WHERE TraceId != ''
GROUP BY TraceId;
