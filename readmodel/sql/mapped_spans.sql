-- The spans one mapping rule makes hops (mapped_hops.sql documents the rules' parameters), read from
-- otel_traces when the data is read: only the rule's service's spans (otel_traces is sorted by
-- ServiceName). One such branch per rule (mapping.mapped_spans_sql joins them with UNION ALL, the rule's
-- number in place of the rule placeholder below): a span is its first matching rule's (the earlier
-- placeholder: no earlier rule of the same service matches it), never taken twice.
-- The rule's number is a constant in its branch, so that every per-rule lookup below is folded when the
-- query is planned (one expression over every rule, the rule found per row, cost ~0.1 s of planning
-- wherever a statement reads the mapped spans, several times in some).
SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, ServiceName, SpanName, Duration,
    CAST(multiIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 'Error',
                 StatusCode IN ('Ok', 'STATUS_CODE_OK'), 'Ok', 'Unset'), 'LowCardinality(String)') AS StatusCode,
    StatusMessage,
    if({map_key_group:Array(Array(UInt8))}[rule][1] > 0,
       replaceRegexpOne(SpanName, {map_regex:Array(String)}[rule], concat('\\', toString({map_key_group:Array(Array(UInt8))}[rule][1]))),
       attrs[{map_key_attr:Array(Array(String))}[rule][1]]) AS OrderId,
    if({map_key_group:Array(Array(UInt8))}[rule][2] > 0,
       replaceRegexpOne(SpanName, {map_regex:Array(String)}[rule], concat('\\', toString({map_key_group:Array(Array(UInt8))}[rule][2]))),
       attrs[{map_key_attr:Array(Array(String))}[rule][2]]) AS CustomerId,
    multiIf(attrs['sku.ids'] = '', [], startsWith(attrs['sku.ids'], '['), JSONExtract(attrs['sku.ids'], 'Array(String)'),
            [attrs['sku.ids']]) AS SkuIds,
    if({map_key_group:Array(Array(UInt8))}[rule][3] > 0,
       replaceRegexpOne(SpanName, {map_regex:Array(String)}[rule], concat('\\', toString({map_key_group:Array(Array(UInt8))}[rule][3]))),
       attrs[{map_key_attr:Array(Array(String))}[rule][3]]) AS InvoiceId,
    if({map_key_group:Array(Array(UInt8))}[rule][4] > 0,
       replaceRegexpOne(SpanName, {map_regex:Array(String)}[rule], concat('\\', toString({map_key_group:Array(Array(UInt8))}[rule][4]))),
       attrs[{map_key_attr:Array(Array(String))}[rule][4]]) AS ShipmentId,
    if({map_key_group:Array(Array(UInt8))}[rule][5] > 0,
       replaceRegexpOne(SpanName, {map_regex:Array(String)}[rule], concat('\\', toString({map_key_group:Array(Array(UInt8))}[rule][5]))),
       attrs[{map_key_attr:Array(Array(String))}[rule][5]]) AS ReturnId,
    CAST(if({map_process:Array(String)}[rule] != '', {map_process:Array(String)}[rule], attrs['biz.process']),
         'LowCardinality(String)') AS Process,
    CAST(if({map_stage:Array(String)}[rule] != '', {map_stage:Array(String)}[rule], attrs['biz.stage']),
         'LowCardinality(String)') AS Stage,
    CAST(multiIf({map_system:Array(String)}[rule] != '', {map_system:Array(String)}[rule],
                 attrs['biz.system'] != '', attrs['biz.system'], ServiceName), 'LowCardinality(String)') AS System,
    CAST(attrs['biz.channel'], 'LowCardinality(String)') AS Channel,
    CAST(if(attrs['biz.priority'] != '', attrs['biz.priority'], 'normal'), 'LowCardinality(String)') AS Priority,
    toFloat64OrNull(attrs['biz.amount']) AS Amount,
    CAST(attrs['biz.currency'], 'LowCardinality(String)') AS Currency,
    toFloat64OrNull(attrs['biz.quantity']) AS Quantity,
    CAST(attrs['biz.status'], 'LowCardinality(String)') AS BizStatus,
    attrs['biz.event_id'] AS EventId,
    attrs['biz.dead_letter'] IN ('true', '1') AS DeadLetter,
    CAST(attrs['error.type'], 'LowCardinality(String)') AS ErrorType,
    true AS Mapped,
    toDateTime(0) AS Ingested  -- (mapped_hops.sql: its part's time, read where it is needed)
FROM (
    SELECT
        Timestamp, TraceId, SpanId, ParentSpanId, ServiceName, SpanName, Duration, StatusCode, StatusMessage,
        CAST(SpanAttributes, 'Map(String, String)') AS attrs,
        toUInt32(${rule}) AS rule
    FROM {db:Identifier}.otel_traces
    WHERE ServiceName = {map_service:Array(String)}[${rule}] AND match(SpanName, {map_regex:Array(String)}[${rule}])
      AND ${earlier}
)
-- as biz_hops_mv: a span with no key, process or stage is no hop
WHERE (OrderId != '' OR CustomerId != '' OR notEmpty(SkuIds) OR InvoiceId != '' OR ShipmentId != ''
       OR ReturnId != '' OR Process != '' OR Stage != '')
