-- A condition on a stored hop (a row of biz_hops, or of a query over it keeping its columns): it
-- carries one of the keys $keys (a set: an array parameter or a subquery), found by primary keys. A
-- hop with an order id: its order is one biz_keys names for the keys (a row per key and order: $orders,
-- those orders, read here or by the caller with key_orders.sql), and the hop carries one of the keys
-- itself (exactly the hops those rows came from). A hop without one: its own biz_keys row (HopTime,
-- HopSpanId; $orderless is false when the caller found the keys have none). '' is no key.
((OrderId != '' AND OrderId IN $orders
  AND arrayExists(k -> k != '' AND k IN $keys, arrayConcat([OrderId, CustomerId, InvoiceId, ShipmentId, ReturnId], SkuIds)))
 OR ($orderless AND OrderId = '' AND (OrderId, Timestamp, SpanId) IN (
     SELECT OrderId, HopTime, HopSpanId FROM {db:Identifier}.biz_keys WHERE Key IN $keys AND OrderId = '')))
