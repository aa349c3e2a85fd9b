-- The event and object types of the OCEL log of [{since}, {until}), each with the names of the
-- attributes its events or objects have in that window: an event type is a stage; an object type
-- is a key kind, whose attributes are those its own hops report (see ocel_hops.sql's owner).
-- Plain aggregates over the hops' columns: a type's attribute is listed when any of its hops has it.
SELECT section, name, arrayFilter(a -> a != '', names) AS names FROM (
    SELECT 'event' AS section, toString(Stage) AS name,
           [if(max(BizProcess != ''), 'process', ''), if(max(System != ''), 'system', ''),
            if(max(Channel != ''), 'channel', ''), if(max(Amount IS NOT NULL), 'amount', ''),
            if(max(Currency != ''), 'currency', ''), if(max(Quantity IS NOT NULL), 'quantity', ''),
            if(max(BizStatus != ''), 'status', ''), if(max(ErrorType != ''), 'error_type', '')] AS names
    FROM (${hops})
    WHERE Stage != ''
    GROUP BY Stage
    UNION ALL
    SELECT 'object' AS section, kind AS name,
           [if(maxIf(BizStatus != '', owner = kind), 'status', ''),
            if(maxIf(Amount IS NOT NULL, owner = kind), 'amount', ''),
            if(maxIf(Currency != '', owner = kind), 'currency', ''),
            if(maxIf(Quantity IS NOT NULL, owner = kind), 'quantity', '')] AS names
    FROM (${hops})
    ARRAY JOIN arrayFilter(k -> k != '', [if(OrderId != '', 'order', ''), if(ShipmentId != '', 'shipment', ''),
                                          if(InvoiceId != '', 'invoice', ''), if(ReturnId != '', 'return', ''),
                                          if(CustomerId != '', 'customer', ''), if(notEmpty(SkuIds), 'sku', '')])
        AS kind
    GROUP BY kind
)
ORDER BY section, name
