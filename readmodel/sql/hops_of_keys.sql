({keys:Array(String)} = []
 OR (OrderId, Timestamp, SpanId) IN (
     SELECT OrderId, Timestamp, SpanId FROM {db:Identifier}.biz_keys WHERE Key IN (${key_tree}))
 OR (Mapped AND hasAny([OrderId, ShipmentId, InvoiceId, ReturnId, CustomerId],
                       (SELECT groupArray(Key) FROM (${key_tree})))))
