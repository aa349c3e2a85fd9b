-- One row per business hop: every span that carries a key or a process/stage of
-- shared/CONVENTIONS.md, with those attributes as real columns. Fed from otel_traces, so
-- spans written by any writer (biztrace's collector or the official one) arrive here.
-- Sorted by (OrderId, Timestamp): all hops of one order, across its traces, sit together.
CREATE TABLE IF NOT EXISTS ${db}.biz_hops ${on_cluster} (
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
) ENGINE = ${replacing_merge_tree}
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (OrderId, Timestamp, SpanId)
${ttl_timestamp}
SETTINGS index_granularity = 1024${dedup_window};

-- The map is cast once to plain String keys: lookups on LowCardinality keys cost 2.5x more.
CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.biz_hops_mv ${on_cluster} TO ${db}.biz_hops AS
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
FROM ${db}.otel_traces
WHERE OrderId != '' OR CustomerId != '' OR notEmpty(SkuIds) OR InvoiceId != ''
   OR ShipmentId != '' OR ReturnId != '' OR Process != '' OR Stage != '';
