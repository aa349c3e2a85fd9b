-- The key graph's links that mapped spans make (mapped_spans.sql), as biz_links_mv makes them from
-- stored hops: every pair of business keys one span carries, both ways (SKUs are not linked). The
-- readers of the key graph read biz_links and these together when the configuration has mappings
-- (keygraph.links_source), so a mapping applies to the graph as it does to the hops: when the data is read.
SELECT pair.1.1 AS Key, pair.1.2 AS KeyKind, pair.2.1 AS Linked, pair.2.2 AS LinkedKind
FROM (
    SELECT arrayFilter(k -> k.1 != '', [(OrderId, 'order'), (ShipmentId, 'shipment'), (InvoiceId, 'invoice'),
                                        (ReturnId, 'return'), (CustomerId, 'customer')]) AS keys
    FROM ${mapped_spans}
    WHERE length(keys) > 1
)
ARRAY JOIN arrayFilter(p -> p.1 != p.2, arrayFlatten(arrayMap(a -> arrayMap(b -> (a, b), keys), keys))) AS pair
