({keys:Array(String)} = []
 OR ${tree_hop}
 OR (Mapped AND hasAny([OrderId, ShipmentId, InvoiceId, ReturnId, CustomerId],
                       (SELECT groupArray(Key) FROM (${key_tree})))))
