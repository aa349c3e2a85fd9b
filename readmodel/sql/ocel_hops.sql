-- The business hops of [{since}, {until}) as OCEL 2.0 sees them (a fragment of the ocel_*.sql
-- queries). Each row is one stored span (FINAL: a retried delivery is read once), placed in its process
-- (hop_process.sql, filled in by ocel.py: BizProcess as every figure counts it, biz.process or not), with:
--   keys       every business key it carries, as (object type, object id); an object id is
--              '<type>:<key>' so that an order and an invoice both numbered 1001 stay two objects;
--   pairs      the object-to-object relationships it shows, (source type, source id, target id,
--              qualifier): from an order to its customer, shipments, invoices, returns and SKUs, from a
--              shipment to its invoices and SKUs, from a return to its customer and SKUs;
--   owner      the type of the object whose state the hop reports: the most specific key it carries
--              (return, invoice, shipment, order, customer), so a payment's 'paid' is the invoice's;
--   observed   the owner's attributes as this system reported them: (name, value as text);
--   attributes the hop's own attributes, the OCEL event's: (name, value as text).
-- A value the hop did not report (an empty string, a NULL amount) is left out, never written empty.
SELECT
    Timestamp, TraceId, SpanId, Stage, BizProcess, System, Channel, Amount, Currency, Quantity, BizStatus, ErrorType,
    OrderId, CustomerId, SkuIds, InvoiceId, ShipmentId, ReturnId,
    if(OrderId != '', concat('order:', OrderId), '') AS order_object,
    if(ShipmentId != '', concat('shipment:', ShipmentId), '') AS shipment_object,
    if(InvoiceId != '', concat('invoice:', InvoiceId), '') AS invoice_object,
    if(ReturnId != '', concat('return:', ReturnId), '') AS return_object,
    if(CustomerId != '', concat('customer:', CustomerId), '') AS customer_object,
    arrayMap(s -> concat('sku:', s), arrayDistinct(arrayFilter(s -> s != '', SkuIds))) AS sku_objects,
    arrayConcat(
        arrayFilter(k -> k.2 != '', [('order', order_object), ('shipment', shipment_object), ('invoice', invoice_object),
                                     ('return', return_object), ('customer', customer_object)]),
        arrayMap(s -> ('sku', s), sku_objects)) AS keys,
    arrayFilter(p -> p.2 != '' AND p.3 != '', arrayConcat(
        [('order', order_object, customer_object, 'customer'), ('order', order_object, shipment_object, 'shipment'),
         ('order', order_object, invoice_object, 'invoice'), ('order', order_object, return_object, 'return'),
         ('shipment', shipment_object, invoice_object, 'invoice'), ('return', return_object, customer_object, 'customer')],
        arrayMap(s -> ('order', order_object, s, 'sku'), sku_objects),
        arrayMap(s -> ('shipment', shipment_object, s, 'sku'), sku_objects),
        arrayMap(s -> ('return', return_object, s, 'sku'), sku_objects))) AS pairs,
    multiIf(ReturnId != '', 'return', InvoiceId != '', 'invoice', ShipmentId != '', 'shipment',
            OrderId != '', 'order', CustomerId != '', 'customer', '') AS owner,
    multiIf(ReturnId != '', return_object, InvoiceId != '', invoice_object, ShipmentId != '', shipment_object,
            OrderId != '', order_object, customer_object) AS owner_object,
    arrayFilter(a -> a.2 != '', [('status', toString(BizStatus)), ('amount', ifNull(toString(Amount), '')),
                                 ('currency', toString(Currency)), ('quantity', ifNull(toString(Quantity), ''))])
        AS observed,
    arrayFilter(a -> a.2 != '', [('process', toString(BizProcess)), ('system', toString(System)),
                                 ('channel', toString(Channel)), ('amount', ifNull(toString(Amount), '')),
                                 ('currency', toString(Currency)), ('quantity', ifNull(toString(Quantity), '')),
                                 ('status', toString(BizStatus)), ('error_type', toString(ErrorType))])
        AS attributes
FROM $placed
WHERE Timestamp >= {since:DateTime64(9)} AND Timestamp < {until:DateTime64(9)}
