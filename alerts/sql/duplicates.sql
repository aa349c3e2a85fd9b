-- Business events delivered more than once (same biz.event_id) per transaction.
SELECT
    Process AS process,
    transform(Process, {processes:Array(String)}, {process_keys:Array(String)}, '') AS key_attr,
    multiIf(key_attr = 'order.id', OrderId, key_attr = 'customer.id', CustomerId,
            key_attr = 'invoice.id', InvoiceId, key_attr = 'shipment.id', ShipmentId,
            key_attr = 'return.id', ReturnId, '') AS key,
    EventId AS event_id,
    count() AS deliveries,
    any(Stage) AS stage,
    argMax(System, Timestamp) AS system,
    min(Timestamp) AS first_at,
    max(Timestamp) AS last_at,
    groupArray(SpanId) AS span_ids
FROM {db:Identifier}.biz_hops
WHERE Process IN {processes:Array(String)} AND EventId != '' AND Timestamp <= {now:DateTime64(9)}
  AND ({keys:Array(String)} = [] OR has({keys:Array(String)}, key))
GROUP BY process, key_attr, key, event_id
HAVING deliveries > 1 AND key != ''
