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
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    OrderId String CODEC(ZSTD(1)),
    CustomerId String CODEC(ZSTD(1)),
    SkuIds Array(String) CODEC(ZSTD(1)),
    InvoiceId String CODEC(ZSTD(1)),
    ShipmentId String CODEC(ZSTD(1)),
    ReturnId String CODEC(ZSTD(1)),
    Process LowCardinality(String) CODEC(ZSTD(1)),
    Stage LowCardinality(String) CODEC(ZSTD(1)),
    System LowCardinality(String) CODEC(ZSTD(1)),
    Channel LowCardinality(String) CODEC(ZSTD(1)),
    Priority LowCardinality(String) CODEC(ZSTD(1)),
    Amount Nullable(Float64) CODEC(ZSTD(1)),
    Currency LowCardinality(String) CODEC(ZSTD(1)),
    Quantity Nullable(Float64) CODEC(ZSTD(1)),
    BizStatus LowCardinality(String) CODEC(ZSTD(1)),
    EventId String CODEC(ZSTD(1)),
    DeadLetter Bool CODEC(ZSTD(1)),
    ErrorType LowCardinality(String) CODEC(ZSTD(1))
) ENGINE = ${replacing_merge_tree}
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (OrderId, Timestamp, SpanId)
${ttl_timestamp}
SETTINGS index_granularity = 8192${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.biz_hops_mv ${on_cluster} TO ${db}.biz_hops AS
SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, ServiceName, SpanName, Duration,
    multiIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 'Error',
            StatusCode IN ('Ok', 'STATUS_CODE_OK'), 'Ok', 'Unset') AS StatusCode,
    StatusMessage,
    SpanAttributes['order.id'] AS OrderId,
    SpanAttributes['customer.id'] AS CustomerId,
    multiIf(SpanAttributes['sku.ids'] = '', [],
            startsWith(SpanAttributes['sku.ids'], '['), JSONExtract(SpanAttributes['sku.ids'], 'Array(String)'),
            [SpanAttributes['sku.ids']]) AS SkuIds,
    SpanAttributes['invoice.id'] AS InvoiceId,
    SpanAttributes['shipment.id'] AS ShipmentId,
    SpanAttributes['return.id'] AS ReturnId,
    SpanAttributes['biz.process'] AS Process,
    SpanAttributes['biz.stage'] AS Stage,
    if(SpanAttributes['biz.system'] != '', SpanAttributes['biz.system'], ServiceName) AS System,
    SpanAttributes['biz.channel'] AS Channel,
    if(SpanAttributes['biz.priority'] != '', SpanAttributes['biz.priority'], 'normal') AS Priority,
    toFloat64OrNull(SpanAttributes['biz.amount']) AS Amount,
    SpanAttributes['biz.currency'] AS Currency,
    toFloat64OrNull(SpanAttributes['biz.quantity']) AS Quantity,
    SpanAttributes['biz.status'] AS BizStatus,
    SpanAttributes['biz.event_id'] AS EventId,
    SpanAttributes['biz.dead_letter'] IN ('true', '1') AS DeadLetter,
    SpanAttributes['error.type'] AS ErrorType
FROM ${db}.otel_traces
WHERE OrderId != '' OR CustomerId != '' OR notEmpty(SkuIds) OR InvoiceId != ''
   OR ShipmentId != '' OR ReturnId != '' OR Process != '' OR Stage != '';
