-- One span's full record, found through the exporter's trace-id time index.
WITH (SELECT (min(Start), max(End)) FROM {db:Identifier}.otel_traces_trace_id_ts WHERE TraceId = {trace_id:String})
    AS bounds
SELECT Timestamp, TraceId, SpanId, ParentSpanId, SpanName, SpanKind, ServiceName, Duration, StatusCode, StatusMessage,
       ResourceAttributes, SpanAttributes, Events.Timestamp AS event_times, Events.Name AS event_names
FROM {db:Identifier}.otel_traces
WHERE TraceId = {trace_id:String} AND SpanId = {span_id:String}
  AND Timestamp >= bounds.1 - toIntervalSecond(1) AND Timestamp <= bounds.2 + toIntervalSecond(1)
LIMIT 1
