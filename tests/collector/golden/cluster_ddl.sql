CREATE TABLE IF NOT EXISTS `otel`.biztrace_schema_migrations ON CLUSTER `biztrace` (version UInt32, name String, checksum String, applied_at DateTime64(3)) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}') ORDER BY version;

CREATE TABLE IF NOT EXISTS `otel`.otel_traces_local ON CLUSTER `biztrace` (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(6)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(6)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    ResourceAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(ResourceAttributes, 'Array(Tuple(String, String))')),
    SpanAttributeItems Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(SpanAttributes, 'Array(Tuple(String, String))')),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_lower_span_name lower(SpanName) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.otel_traces ON CLUSTER `biztrace` AS `otel`.otel_traces_local
ENGINE = Distributed(`biztrace`, `otel`, otel_traces_local, if(SpanAttributes['order.id'] != '', cityHash64(SpanAttributes['order.id']), cityHash64(TraceId)));

CREATE TABLE IF NOT EXISTS `otel`.otel_traces_trace_id_ts_local ON CLUSTER `biztrace` (
    TraceId String CODEC(ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(T64, ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(T64, ZSTD(1))
) ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
TTL toDateTime(Start) + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS `otel`.otel_traces_trace_id_ts ON CLUSTER `biztrace` AS `otel`.otel_traces_trace_id_ts_local
ENGINE = Distributed(`biztrace`, `otel`, otel_traces_trace_id_ts_local, cityHash64(TraceId));

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otel_traces_trace_id_ts_mv ON CLUSTER `biztrace`
TO `otel`.otel_traces_trace_id_ts_local
AS SELECT
    TraceId,
    min(toDateTime(Timestamp)) AS Start,
    max(toDateTime(Timestamp)) AS End
FROM `otel`.otel_traces_local
WHERE TraceId != ''
GROUP BY TraceId;

CREATE TABLE IF NOT EXISTS `otel`.otlp_ingest ON CLUSTER `biztrace` (
    resource_spans Array(Tuple(
        resource Tuple(attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))), kvlist_value Tuple(values Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String)))))))),
        scope_spans Array(Tuple(
            scope Tuple(name String, version String),
            spans Array(Tuple(
                trace_id String, span_id String, trace_state String, parent_span_id String,
                name String, kind Int32, start_time_unix_nano UInt64, end_time_unix_nano UInt64,
                attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))), kvlist_value Tuple(values Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))))))),
                events Array(Tuple(time_unix_nano UInt64, name String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))), kvlist_value Tuple(values Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))))))))),
                links Array(Tuple(trace_id String, span_id String, trace_state String, attributes Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String, array_value Tuple(values Array(Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))), kvlist_value Tuple(values Array(Tuple(key String, value Tuple(value Enum8('none' = 0, 'string_value' = 1, 'bool_value' = 2, 'int_value' = 3, 'double_value' = 4, 'array_value' = 5, 'kvlist_value' = 6, 'bytes_value' = 7), string_value String, bool_value Bool, int_value Int64, double_value Float64, bytes_value String))))))))),
                status Tuple(message String, code Int32)))))))
) ENGINE = Null;

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.otlp_ingest_mv ON CLUSTER `biztrace` TO `otel`.otel_traces AS
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
    mapFromArrays(arrayMap(a -> a.key, sp.attributes), arrayMap(a -> multiIf(a.value.value = 'string_value', a.value.string_value, a.value.value = 'int_value', toString(a.value.int_value), a.value.value = 'bool_value', if(a.value.bool_value, 'true', 'false'), a.value.value = 'double_value', multiIf(isNaN(a.value.double_value), 'json: unsupported value: NaN', isInfinite(a.value.double_value), if(a.value.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(a.value.double_value), 'e') > 0 AND position(toString(a.value.double_value), 'e-') = 0, replaceOne(toString(a.value.double_value), 'e', 'e+'), toString(a.value.double_value)), a.value.value = 'bytes_value', base64Encode(a.value.bytes_value), a.value.value = 'array_value', concat('[', arrayStringConcat(arrayMap(x -> multiIf(x.value = 'string_value', replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(x.string_value), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), x.value = 'int_value', toString(x.int_value), x.value = 'bool_value', if(x.bool_value, 'true', 'false'), x.value = 'double_value', multiIf(isNaN(x.double_value), 'json: unsupported value: NaN', isInfinite(x.double_value), if(x.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(x.double_value), 'e') > 0 AND position(toString(x.double_value), 'e-') = 0, replaceOne(toString(x.double_value), 'e', 'e+'), toString(x.double_value)), x.value = 'bytes_value', concat('"', base64Encode(x.bytes_value), '"'), 'null'), a.value.array_value.values), ','), ']'), a.value.value = 'kvlist_value', concat('{', arrayStringConcat(arrayMap(kv -> concat(replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(kv.key), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), ':', multiIf(kv.value.value = 'string_value', replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(kv.value.string_value), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), kv.value.value = 'int_value', toString(kv.value.int_value), kv.value.value = 'bool_value', if(kv.value.bool_value, 'true', 'false'), kv.value.value = 'double_value', multiIf(isNaN(kv.value.double_value), 'json: unsupported value: NaN', isInfinite(kv.value.double_value), if(kv.value.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(kv.value.double_value), 'e') > 0 AND position(toString(kv.value.double_value), 'e-') = 0, replaceOne(toString(kv.value.double_value), 'e', 'e+'), toString(kv.value.double_value)), kv.value.value = 'bytes_value', concat('"', base64Encode(kv.value.bytes_value), '"'), 'null')), arraySort(kv -> kv.key, a.value.kvlist_value.values)), ','), '}'), ''), sp.attributes)) AS SpanAttributes,
    sp.end_time_unix_nano - sp.start_time_unix_nano AS Duration,
    ['Unset', 'Ok', 'Error'][sp.status.code + 1] AS StatusCode,
    sp.status.message AS StatusMessage,
    arrayMap(e -> fromUnixTimestamp64Nano(toInt64(e.time_unix_nano)), sp.events) AS `Events.Timestamp`,
    arrayMap(e -> e.name, sp.events) AS `Events.Name`,
    arrayMap(e -> mapFromArrays(arrayMap(a -> a.key, e.attributes), arrayMap(a -> multiIf(a.value.value = 'string_value', a.value.string_value, a.value.value = 'int_value', toString(a.value.int_value), a.value.value = 'bool_value', if(a.value.bool_value, 'true', 'false'), a.value.value = 'double_value', multiIf(isNaN(a.value.double_value), 'json: unsupported value: NaN', isInfinite(a.value.double_value), if(a.value.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(a.value.double_value), 'e') > 0 AND position(toString(a.value.double_value), 'e-') = 0, replaceOne(toString(a.value.double_value), 'e', 'e+'), toString(a.value.double_value)), a.value.value = 'bytes_value', base64Encode(a.value.bytes_value), a.value.value = 'array_value', concat('[', arrayStringConcat(arrayMap(x -> multiIf(x.value = 'string_value', replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(x.string_value), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), x.value = 'int_value', toString(x.int_value), x.value = 'bool_value', if(x.bool_value, 'true', 'false'), x.value = 'double_value', multiIf(isNaN(x.double_value), 'json: unsupported value: NaN', isInfinite(x.double_value), if(x.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(x.double_value), 'e') > 0 AND position(toString(x.double_value), 'e-') = 0, replaceOne(toString(x.double_value), 'e', 'e+'), toString(x.double_value)), x.value = 'bytes_value', concat('"', base64Encode(x.bytes_value), '"'), 'null'), a.value.array_value.values), ','), ']'), a.value.value = 'kvlist_value', concat('{', arrayStringConcat(arrayMap(kv -> concat(replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(kv.key), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), ':', multiIf(kv.value.value = 'string_value', replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(kv.value.string_value), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), kv.value.value = 'int_value', toString(kv.value.int_value), kv.value.value = 'bool_value', if(kv.value.bool_value, 'true', 'false'), kv.value.value = 'double_value', multiIf(isNaN(kv.value.double_value), 'json: unsupported value: NaN', isInfinite(kv.value.double_value), if(kv.value.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(kv.value.double_value), 'e') > 0 AND position(toString(kv.value.double_value), 'e-') = 0, replaceOne(toString(kv.value.double_value), 'e', 'e+'), toString(kv.value.double_value)), kv.value.value = 'bytes_value', concat('"', base64Encode(kv.value.bytes_value), '"'), 'null')), arraySort(kv -> kv.key, a.value.kvlist_value.values)), ','), '}'), ''), e.attributes)), sp.events) AS `Events.Attributes`,
    arrayMap(l -> if(l.trace_id = repeat('\0', 16), '', lower(hex(l.trace_id))), sp.links) AS `Links.TraceId`,
    arrayMap(l -> if(l.span_id = repeat('\0', 8), '', lower(hex(l.span_id))), sp.links) AS `Links.SpanId`,
    arrayMap(l -> l.trace_state, sp.links) AS `Links.TraceState`,
    arrayMap(l -> mapFromArrays(arrayMap(a -> a.key, l.attributes), arrayMap(a -> multiIf(a.value.value = 'string_value', a.value.string_value, a.value.value = 'int_value', toString(a.value.int_value), a.value.value = 'bool_value', if(a.value.bool_value, 'true', 'false'), a.value.value = 'double_value', multiIf(isNaN(a.value.double_value), 'json: unsupported value: NaN', isInfinite(a.value.double_value), if(a.value.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(a.value.double_value), 'e') > 0 AND position(toString(a.value.double_value), 'e-') = 0, replaceOne(toString(a.value.double_value), 'e', 'e+'), toString(a.value.double_value)), a.value.value = 'bytes_value', base64Encode(a.value.bytes_value), a.value.value = 'array_value', concat('[', arrayStringConcat(arrayMap(x -> multiIf(x.value = 'string_value', replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(x.string_value), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), x.value = 'int_value', toString(x.int_value), x.value = 'bool_value', if(x.bool_value, 'true', 'false'), x.value = 'double_value', multiIf(isNaN(x.double_value), 'json: unsupported value: NaN', isInfinite(x.double_value), if(x.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(x.double_value), 'e') > 0 AND position(toString(x.double_value), 'e-') = 0, replaceOne(toString(x.double_value), 'e', 'e+'), toString(x.double_value)), x.value = 'bytes_value', concat('"', base64Encode(x.bytes_value), '"'), 'null'), a.value.array_value.values), ','), ']'), a.value.value = 'kvlist_value', concat('{', arrayStringConcat(arrayMap(kv -> concat(replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(kv.key), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), ':', multiIf(kv.value.value = 'string_value', replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(kv.value.string_value), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), kv.value.value = 'int_value', toString(kv.value.int_value), kv.value.value = 'bool_value', if(kv.value.bool_value, 'true', 'false'), kv.value.value = 'double_value', multiIf(isNaN(kv.value.double_value), 'json: unsupported value: NaN', isInfinite(kv.value.double_value), if(kv.value.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(kv.value.double_value), 'e') > 0 AND position(toString(kv.value.double_value), 'e-') = 0, replaceOne(toString(kv.value.double_value), 'e', 'e+'), toString(kv.value.double_value)), kv.value.value = 'bytes_value', concat('"', base64Encode(kv.value.bytes_value), '"'), 'null')), arraySort(kv -> kv.key, a.value.kvlist_value.values)), ','), '}'), ''), l.attributes)), sp.links) AS `Links.Attributes`
FROM `otel`.otlp_ingest
ARRAY JOIN arrayMap(rs -> (mapFromArrays(arrayMap(a -> a.key, rs.resource.attributes), arrayMap(a -> multiIf(a.value.value = 'string_value', a.value.string_value, a.value.value = 'int_value', toString(a.value.int_value), a.value.value = 'bool_value', if(a.value.bool_value, 'true', 'false'), a.value.value = 'double_value', multiIf(isNaN(a.value.double_value), 'json: unsupported value: NaN', isInfinite(a.value.double_value), if(a.value.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(a.value.double_value), 'e') > 0 AND position(toString(a.value.double_value), 'e-') = 0, replaceOne(toString(a.value.double_value), 'e', 'e+'), toString(a.value.double_value)), a.value.value = 'bytes_value', base64Encode(a.value.bytes_value), a.value.value = 'array_value', concat('[', arrayStringConcat(arrayMap(x -> multiIf(x.value = 'string_value', replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(x.string_value), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), x.value = 'int_value', toString(x.int_value), x.value = 'bool_value', if(x.bool_value, 'true', 'false'), x.value = 'double_value', multiIf(isNaN(x.double_value), 'json: unsupported value: NaN', isInfinite(x.double_value), if(x.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(x.double_value), 'e') > 0 AND position(toString(x.double_value), 'e-') = 0, replaceOne(toString(x.double_value), 'e', 'e+'), toString(x.double_value)), x.value = 'bytes_value', concat('"', base64Encode(x.bytes_value), '"'), 'null'), a.value.array_value.values), ','), ']'), a.value.value = 'kvlist_value', concat('{', arrayStringConcat(arrayMap(kv -> concat(replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(kv.key), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), ':', multiIf(kv.value.value = 'string_value', replaceAll(replaceAll(replaceAll(replaceAll(toJSONString(kv.value.string_value), '\\/', '/'), '<', '\\u003c'), '>', '\\u003e'), '&', '\\u0026'), kv.value.value = 'int_value', toString(kv.value.int_value), kv.value.value = 'bool_value', if(kv.value.bool_value, 'true', 'false'), kv.value.value = 'double_value', multiIf(isNaN(kv.value.double_value), 'json: unsupported value: NaN', isInfinite(kv.value.double_value), if(kv.value.double_value > 0, 'json: unsupported value: +Inf', 'json: unsupported value: -Inf'), position(toString(kv.value.double_value), 'e') > 0 AND position(toString(kv.value.double_value), 'e-') = 0, replaceOne(toString(kv.value.double_value), 'e', 'e+'), toString(kv.value.double_value)), kv.value.value = 'bytes_value', concat('"', base64Encode(kv.value.bytes_value), '"'), 'null')), arraySort(kv -> kv.key, a.value.kvlist_value.values)), ','), '}'), ''), rs.resource.attributes)), rs.scope_spans), resource_spans) AS resource
ARRAY JOIN resource.2 AS ss
ARRAY JOIN ss.spans AS sp;

CREATE TABLE IF NOT EXISTS `otel`.biz_hops_local ON CLUSTER `biztrace` (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(3)),
    OrderId String CODEC(ZSTD(3)),
    CustomerId String CODEC(ZSTD(3)),
    SkuIds Array(String) CODEC(ZSTD(6)),
    InvoiceId String CODEC(ZSTD(1)),
    ShipmentId String CODEC(ZSTD(1)),
    ReturnId String CODEC(ZSTD(1)),
    Process LowCardinality(String) CODEC(ZSTD(1)),
    Stage LowCardinality(String) CODEC(ZSTD(1)),
    System LowCardinality(String) CODEC(ZSTD(1)),
    Channel LowCardinality(String) CODEC(ZSTD(1)),
    Priority LowCardinality(String) CODEC(ZSTD(1)),
    Amount Nullable(Float64) CODEC(ZSTD(3)),
    Currency LowCardinality(String) CODEC(ZSTD(1)),
    Quantity Nullable(Float64) CODEC(ZSTD(3)),
    BizStatus LowCardinality(String) CODEC(ZSTD(1)),
    EventId String CODEC(ZSTD(6)),
    DeadLetter Bool CODEC(ZSTD(1)),
    ErrorType LowCardinality(String) CODEC(ZSTD(1))
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (OrderId, Timestamp, SpanId)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS `otel`.biz_hops ON CLUSTER `biztrace` AS `otel`.biz_hops_local
ENGINE = Distributed(`biztrace`, `otel`, biz_hops_local, if(OrderId != '', cityHash64(OrderId), cityHash64(TraceId)));

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.biz_hops_mv ON CLUSTER `biztrace` TO `otel`.biz_hops_local AS
WITH CAST(SpanAttributes, 'Map(String, String)') AS attrs
SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, ServiceName, SpanName, Duration,
    multiIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 'Error',
            StatusCode IN ('Ok', 'STATUS_CODE_OK'), 'Ok', 'Unset') AS StatusCode,
    StatusMessage,
    attrs['order.id'] AS OrderId,
    attrs['customer.id'] AS CustomerId,
    multiIf(attrs['sku.ids'] = '', [],
            startsWith(attrs['sku.ids'], '['), JSONExtract(attrs['sku.ids'], 'Array(String)'),
            [attrs['sku.ids']]) AS SkuIds,
    attrs['invoice.id'] AS InvoiceId,
    attrs['shipment.id'] AS ShipmentId,
    attrs['return.id'] AS ReturnId,
    attrs['biz.process'] AS Process,
    attrs['biz.stage'] AS Stage,
    if(attrs['biz.system'] != '', attrs['biz.system'], ServiceName) AS System,
    attrs['biz.channel'] AS Channel,
    if(attrs['biz.priority'] != '', attrs['biz.priority'], 'normal') AS Priority,
    toFloat64OrNull(attrs['biz.amount']) AS Amount,
    attrs['biz.currency'] AS Currency,
    toFloat64OrNull(attrs['biz.quantity']) AS Quantity,
    attrs['biz.status'] AS BizStatus,
    attrs['biz.event_id'] AS EventId,
    attrs['biz.dead_letter'] IN ('true', '1') AS DeadLetter,
    attrs['error.type'] AS ErrorType
FROM `otel`.otel_traces_local
WHERE OrderId != '' OR CustomerId != '' OR notEmpty(SkuIds) OR InvoiceId != ''
   OR ShipmentId != '' OR ReturnId != '' OR Process != '' OR Stage != '';

CREATE TABLE IF NOT EXISTS `otel`.biz_keys_local ON CLUSTER `biztrace` (
    Key String CODEC(ZSTD(3)),
    KeyKind LowCardinality(String) CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    OrderId String CODEC(ZSTD(3)),
    SpanId String CODEC(ZSTD(1))
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Key, Timestamp, SpanId)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS `otel`.biz_keys ON CLUSTER `biztrace` AS `otel`.biz_keys_local
ENGINE = Distributed(`biztrace`, `otel`, biz_keys_local, cityHash64(OrderId));

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.biz_keys_mv ON CLUSTER `biztrace` TO `otel`.biz_keys_local AS
SELECT key.1 AS Key, key.2 AS KeyKind, Timestamp, OrderId, SpanId
FROM `otel`.biz_hops_local
ARRAY JOIN arrayFilter(k -> k.1 != '', arrayConcat(
    [(OrderId, 'order'), (CustomerId, 'customer'), (InvoiceId, 'invoice'),
     (ShipmentId, 'shipment'), (ReturnId, 'return')],
    arrayMap(s -> (s, 'sku'), SkuIds))) AS key;

CREATE TABLE IF NOT EXISTS `otel`.biztrace_ingest_ledger ON CLUSTER `biztrace` (
    WrittenAt DateTime64(3) CODEC(Delta(8), ZSTD(1)),
    BatchId String CODEC(ZSTD(1)),
    Fingerprint String CODEC(ZSTD(1)),
    Day Date,
    SampleTraceId String CODEC(ZSTD(1)),
    SampleSpanId String CODEC(ZSTD(1)),
    SampleTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (WrittenAt, Fingerprint)
TTL toDateTime(WrittenAt) + toIntervalDay(2)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS `otel`.biztrace_exception_events ON CLUSTER `biztrace` (
    At DateTime64(3),
    Process LowCardinality(String),
    Key String,
    Kind LowCardinality(String),
    Stage String,
    Action LowCardinality(String),
    Actor String,
    Assignee String,
    Note String
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (Process, Key, Kind, At);

CREATE TABLE IF NOT EXISTS `otel`.biztrace_alert_events ON CLUSTER `biztrace` (
    At DateTime64(3),
    Rule LowCardinality(String),
    Fingerprint String,
    Labels Map(String, String),
    Annotations Map(String, String),
    State LowCardinality(String),
    Value Float64,
    ActiveSince Nullable(DateTime64(3)),
    Transactions String
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (Fingerprint, At);

CREATE TABLE IF NOT EXISTS `otel`.biztrace_notifications ON CLUSTER `biztrace` (
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
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (GroupKey, At);

CREATE TABLE IF NOT EXISTS `otel`.biztrace_silences ON CLUSTER `biztrace` (
    Id String,
    Version UInt64,
    CreatedAt DateTime64(3),
    StartsAt DateTime64(3),
    EndsAt DateTime64(3),
    Matchers Map(String, String),
    CreatedBy String,
    Comment String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY Id;

CREATE TABLE IF NOT EXISTS `otel`.biz_links_local ON CLUSTER `biztrace` (
    Key String CODEC(ZSTD(1)),
    KeyKind LowCardinality(String) CODEC(ZSTD(1)),
    Linked String CODEC(ZSTD(1)),
    LinkedKind LowCardinality(String) CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(ZSTD(3))
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (Key, LinkedKind, Linked, KeyKind)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS `otel`.biz_links ON CLUSTER `biztrace` AS `otel`.biz_links_local
ENGINE = Distributed(`biztrace`, `otel`, biz_links_local, cityHash64(Key));

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.biz_links_mv ON CLUSTER `biztrace` TO `otel`.biz_links_local AS
WITH arrayFilter(k -> k.1 != '', [(OrderId, 'order'), (ShipmentId, 'shipment'), (InvoiceId, 'invoice'),
                                 (ReturnId, 'return'), (CustomerId, 'customer')]) AS keys
SELECT pair.1.1 AS Key, pair.1.2 AS KeyKind, pair.2.1 AS Linked, pair.2.2 AS LinkedKind, max(Timestamp) AS Timestamp
FROM `otel`.biz_hops_local
ARRAY JOIN arrayFilter(p -> p.1 != p.2, arrayFlatten(arrayMap(a -> arrayMap(b -> (a, b), keys), keys))) AS pair
WHERE length(keys) > 1
GROUP BY Key, KeyKind, Linked, LinkedKind;

CREATE TABLE IF NOT EXISTS `otel`.biztrace_api_tokens ON CLUSTER `biztrace` (
    At DateTime64(3),
    Id String,
    Name String,
    Roles Array(LowCardinality(String)),
    Hash String,
    Action LowCardinality(String),
    Actor String
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (Id, At);

CREATE TABLE IF NOT EXISTS `otel`.biztrace_replays ON CLUSTER `biztrace` (
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
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (Process, Key, Kind, RequestId, At);

CREATE TABLE IF NOT EXISTS `otel`.biztrace_exception_postponements ON CLUSTER `biztrace` (
    At DateTime64(3),
    Process LowCardinality(String),
    Key String,
    Kind LowCardinality(String),
    Until DateTime64(3),
    Actor String,
    Note String
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY (Process, Key, Kind, At);

ALTER TABLE `otel`.biz_hops_local ON CLUSTER `biztrace`
    ADD COLUMN IF NOT EXISTS Ingested DateTime DEFAULT now() CODEC(Delta(4), ZSTD(1));

ALTER TABLE `otel`.biz_hops ON CLUSTER `biztrace`
    ADD COLUMN IF NOT EXISTS Ingested DateTime DEFAULT now() CODEC(Delta(4), ZSTD(1));

ALTER TABLE `otel`.biz_hops_local ON CLUSTER `biztrace` MATERIALIZE COLUMN Ingested;

ALTER TABLE `otel`.biztrace_exception_events ON CLUSTER `biztrace`
    ADD COLUMN IF NOT EXISTS System LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS Priority LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS Channel LowCardinality(String) DEFAULT '';

DROP VIEW IF EXISTS `otel`.biz_keys_mv ON CLUSTER `biztrace`;

DROP TABLE IF EXISTS `otel`.biz_keys ON CLUSTER `biztrace`;

DROP TABLE IF EXISTS `otel`.biz_keys_local ON CLUSTER `biztrace`;

CREATE TABLE IF NOT EXISTS `otel`.biz_keys_local ON CLUSTER `biztrace` (
    Key String CODEC(ZSTD(3)),
    KeyKind LowCardinality(String) CODEC(ZSTD(1)),
    OrderId String CODEC(ZSTD(3)),
    HopSpanId String CODEC(ZSTD(1)),
    HopTime DateTime64(9) CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(ZSTD(1))
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', Timestamp)
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Key, OrderId, HopSpanId, HopTime)
TTL toDateTime(Timestamp) + toIntervalDay(30)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS `otel`.biz_keys ON CLUSTER `biztrace` AS `otel`.biz_keys_local
ENGINE = Distributed(`biztrace`, `otel`, biz_keys_local, cityHash64(OrderId));

CREATE MATERIALIZED VIEW IF NOT EXISTS `otel`.biz_keys_mv ON CLUSTER `biztrace` TO `otel`.biz_keys_local AS
SELECT key.1 AS Key, key.2 AS KeyKind, OrderId,
       if(OrderId = '', SpanId, '') AS HopSpanId,
       if(OrderId = '', Timestamp, toDateTime64(0, 9)) AS HopTime,
       Timestamp
FROM `otel`.biz_hops_local
ARRAY JOIN arrayFilter(k -> k.1 != '', arrayConcat(
    [(OrderId, 'order'), (CustomerId, 'customer'), (InvoiceId, 'invoice'),
     (ShipmentId, 'shipment'), (ReturnId, 'return')],
    arrayMap(s -> (s, 'sku'), SkuIds))) AS key;

ALTER TABLE `otel`.biztrace_exception_events ON CLUSTER `biztrace`
    ADD COLUMN IF NOT EXISTS Inserted DateTime DEFAULT now() CODEC(Delta(4), ZSTD(1));

ALTER TABLE `otel`.biztrace_exception_events ON CLUSTER `biztrace` MATERIALIZE COLUMN Inserted;

ALTER TABLE `otel`.biztrace_alert_events ON CLUSTER `biztrace`
    ADD COLUMN IF NOT EXISTS Updated Bool DEFAULT false;
