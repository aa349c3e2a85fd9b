-- Every business key of every hop (order, customer, each SKU, invoice, shipment, return),
-- sorted by key: the fast path from any id to its hops in biz_hops.
CREATE TABLE IF NOT EXISTS ${db}.biz_keys ${on_cluster} (
    Key String CODEC(ZSTD(3)),
    KeyKind LowCardinality(String) CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    OrderId String CODEC(ZSTD(3)),
    SpanId String CODEC(ZSTD(1))
) ENGINE = ${replacing_merge_tree}
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Key, Timestamp, SpanId)
${ttl_timestamp}
SETTINGS index_granularity = 1024${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.biz_keys_mv ${on_cluster} TO ${db}.biz_keys AS
SELECT key.1 AS Key, key.2 AS KeyKind, Timestamp, OrderId, SpanId
FROM ${db}.biz_hops
ARRAY JOIN arrayFilter(k -> k.1 != '', arrayConcat(
    [(OrderId, 'order'), (CustomerId, 'customer'), (InvoiceId, 'invoice'),
     (ShipmentId, 'shipment'), (ReturnId, 'return')],
    arrayMap(s -> (s, 'sku'), SkuIds))) AS key;
