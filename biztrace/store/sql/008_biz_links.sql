-- The key graph: every pair of business keys seen together on one hop (a shipment hop with
-- shipment.id and order.id links the two), in both directions, sorted by key: from any key, its
-- linked keys are a few granules away. Fed from biz_hops, so a rebuild or repair of biz_hops
-- re-derives the links too. Rows repeat while parts are unmerged; readers take distinct pairs.
-- SKUs are not linked (one SKU is on thousands of orders).
CREATE TABLE IF NOT EXISTS ${db}.biz_links ${on_cluster} (
    Key String CODEC(ZSTD(1)),
    KeyKind LowCardinality(String) CODEC(ZSTD(1)),
    Linked String CODEC(ZSTD(1)),
    LinkedKind LowCardinality(String) CODEC(ZSTD(1)),
    Timestamp DateTime64(9) CODEC(ZSTD(3))
) ENGINE = ${replacing_merge_tree}
ORDER BY (Key, LinkedKind, Linked, KeyKind)
${ttl_timestamp}
SETTINGS index_granularity = 1024;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.biz_links_mv ${on_cluster} TO ${db}.biz_links AS
WITH arrayFilter(k -> k.1 != '', [(OrderId, 'order'), (ShipmentId, 'shipment'), (InvoiceId, 'invoice'),
                                 (ReturnId, 'return'), (CustomerId, 'customer')]) AS keys
SELECT pair.1.1 AS Key, pair.1.2 AS KeyKind, pair.2.1 AS Linked, pair.2.2 AS LinkedKind, max(Timestamp) AS Timestamp
FROM ${db}.biz_hops
ARRAY JOIN arrayFilter(p -> p.1 != p.2, arrayFlatten(arrayMap(a -> arrayMap(b -> (a, b), keys), keys))) AS pair
WHERE length(keys) > 1
GROUP BY Key, KeyKind, Linked, LinkedKind;

