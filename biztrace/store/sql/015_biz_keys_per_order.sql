-- biz_keys, one row per (key, order) instead of one per key per hop (issue 18: it held a third of
-- every span's stored bytes). A hop with an order id gives each of its keys a row naming the order;
-- the rows of one key and order collapse into one (the latest hop's time, in each month's
-- partition). A reader finds a key's hops through its orders, by biz_hops' primary key, keeping the
-- hops that carry the key themselves (readmodel/sql/keyed_hop.sql). A hop without an order id keeps a
-- row of its own: HopSpanId and HopTime name it (both empty, zero, for a hop with an order id).
-- The table is made again: an upgraded store's rows are derived from its hops by the new view.
DROP VIEW IF EXISTS ${db}.biz_keys_mv ${on_cluster};

DROP TABLE IF EXISTS ${db}.biz_keys ${on_cluster};

CREATE TABLE IF NOT EXISTS ${db}.biz_keys ${on_cluster} (
    Key String CODEC(ZSTD(3)),
    KeyKind LowCardinality(String) CODEC(ZSTD(1)),
    OrderId String CODEC(ZSTD(3)),
    HopSpanId String CODEC(ZSTD(1)),
    HopTime DateTime64(9) CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(ZSTD(1))
) ENGINE = ${replacing_merge_tree_latest}
PARTITION BY toYYYYMM(Timestamp)
ORDER BY (Key, OrderId, HopSpanId, HopTime)
${ttl_timestamp}
SETTINGS index_granularity = 1024${dedup_window};

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.biz_keys_mv ${on_cluster} TO ${db}.biz_keys AS
SELECT key.1 AS Key, key.2 AS KeyKind, OrderId,
       if(OrderId = '', SpanId, '') AS HopSpanId,
       if(OrderId = '', Timestamp, toDateTime64(0, 9)) AS HopTime,
       Timestamp
FROM ${db}.biz_hops
ARRAY JOIN arrayFilter(k -> k.1 != '', arrayConcat(
    [(OrderId, 'order'), (CustomerId, 'customer'), (InvoiceId, 'invoice'),
     (ShipmentId, 'shipment'), (ReturnId, 'return')],
    arrayMap(s -> (s, 'sku'), SkuIds))) AS key;
