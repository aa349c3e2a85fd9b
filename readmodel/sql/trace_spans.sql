-- The spans of some traces as trees, for the order page's waterfall: every stored span of the traces
-- (business hop or not), its depth under its trace's root and its start offset from its trace's first
-- span, each child after its parent (siblings by start). A span whose parent is not stored starts a tree
-- of its own. A span stored twice (a duplicate delivery) counts once. At most {limit} spans; `total`
-- counts them all. The traces' time range comes from the exporter's trace-id index (as sql/span.sql).
WITH RECURSIVE
    (SELECT (min(Start), max(End)) FROM {db:Identifier}.otel_traces_trace_id_ts
     WHERE TraceId IN {traces:Array(String)}) AS bounds,
    spans AS (
        SELECT TraceId, SpanId, any(ParentSpanId) AS ParentSpanId, min(Timestamp) AS Start,
               any(SpanName) AS Name, any(ServiceName) AS Service, any(SpanKind) AS Kind, max(Duration) AS Duration,
               any(StatusCode) AS Status, any(StatusMessage) AS StatusMessage, any(SpanAttributes) AS Attributes
        FROM {db:Identifier}.otel_traces
        WHERE TraceId IN {traces:Array(String)}
          AND Timestamp >= bounds.1 - toIntervalSecond(1) AND Timestamp <= bounds.2 + toIntervalSecond(1)
        GROUP BY TraceId, SpanId
    ),
    tree AS (
        SELECT TraceId, SpanId, toUInt32(0) AS depth, [(toUnixTimestamp64Nano(Start), SpanId)] AS path
        FROM spans
        WHERE ParentSpanId = '' OR (TraceId, ParentSpanId) NOT IN (SELECT TraceId, SpanId FROM spans)
        UNION ALL
        SELECT s.TraceId, s.SpanId, tree.depth + 1, arrayPushBack(tree.path, (toUnixTimestamp64Nano(s.Start), s.SpanId))
        FROM spans AS s
        INNER JOIN tree ON s.TraceId = tree.TraceId AND s.ParentSpanId = tree.SpanId
    )
SELECT s.TraceId AS trace_id, s.SpanId AS span_id, s.ParentSpanId AS parent_span_id, t.depth AS depth,
       s.Name AS name, s.Service AS service, s.Kind AS kind, s.Start AS start,
       min(s.Start) OVER (PARTITION BY s.TraceId) AS trace_start,
       (toUnixTimestamp64Nano(s.Start) - toUnixTimestamp64Nano(trace_start)) / 1e6 AS offset_ms,
       s.Duration / 1e6 AS duration_ms, s.Status AS status, s.StatusMessage AS status_message,
       s.Attributes AS attributes, count() OVER () AS total
FROM tree AS t
INNER JOIN spans AS s ON s.TraceId = t.TraceId AND s.SpanId = t.SpanId
ORDER BY trace_start, trace_id, t.path
LIMIT {limit:UInt32}
