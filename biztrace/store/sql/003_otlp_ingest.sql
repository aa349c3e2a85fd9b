-- OTLP export requests as ClickHouse parses them (FORMAT Protobuf with collector/otlp_trace.proto
-- and input_format_protobuf_oneof_presence=1). The Null engine keeps nothing: the view below
-- flattens each request into otel_traces rows, converting attribute values as the exporter does.
-- AnyValue is read two levels deep: arrays and maps of scalars, as OpenTelemetry attributes are.
CREATE TABLE IF NOT EXISTS ${db}.otlp_ingest ${on_cluster} (
    resource_spans Array(Tuple(
        resource Tuple(attributes ${kv_type}),
        scope_spans Array(Tuple(
            scope Tuple(name String, version String),
            spans Array(Tuple(
                trace_id String, span_id String, trace_state String, parent_span_id String,
                name String, kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64,
                attributes ${kv_type},
                events Array(Tuple(time_unix_nano UInt64, name String, attributes ${kv_type})),
                links Array(Tuple(trace_id String, span_id String, trace_state String, attributes ${kv_type})),
                status Tuple(message String, code Int32)))))))
) ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.otlp_ingest_mv ${on_cluster} TO ${db}.otel_traces AS
SELECT
    fromUnixTimestamp64Nano(toInt64(sp.start_time_unix_nano)) AS Timestamp,
    if(sp.trace_id = repeat('\0', 16), '', lower(hex(sp.trace_id))) AS TraceId,
    if(sp.span_id = repeat('\0', 8), '', lower(hex(sp.span_id))) AS SpanId,
    if(sp.parent_span_id = repeat('\0', 8), '', lower(hex(sp.parent_span_id))) AS ParentSpanId,
    sp.trace_state AS TraceState,
    sp.name AS SpanName,
    ['Unspecified', 'Internal', 'Server', 'Client', 'Producer', 'Consumer'][sp.kind + 1] AS SpanKind,
    resource.1['service.name'] AS ServiceName,
    resource.1 AS ResourceAttributes,
    ss.scope.name AS ScopeName,
    ss.scope.version AS ScopeVersion,
    ${span_attributes} AS SpanAttributes,
    sp.end_time_unix_nano - sp.start_time_unix_nano AS Duration,
    ['Unset', 'Ok', 'Error'][sp.status.code + 1] AS StatusCode,
    sp.status.message AS StatusMessage,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), sp.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, sp.events) AS `Events.Name`,
    arrayMap(e -> ${event_attributes}, sp.events) AS `Events.Attributes`,
    arrayMap(l -> if(l.trace_id = repeat('\0', 16), '', lower(hex(l.trace_id))), sp.links) AS `Links.TraceId`,
    arrayMap(l -> if(l.span_id = repeat('\0', 8), '', lower(hex(l.span_id))), sp.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, sp.links) AS `Links.TraceState`,
    arrayMap(l -> ${link_attributes}, sp.links) AS `Links.Attributes`
FROM ${db}.otlp_ingest
-- each resource's attribute map is converted once, not once per span
ARRAY JOIN arrayMap(rs -> (${resource_attributes}, rs.scope_spans), resource_spans) AS resource
ARRAY JOIN resource.2 AS ss
ARRAY JOIN ss.spans AS sp;
