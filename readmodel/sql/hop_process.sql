-- Every hop row (biz_hops, or with mappings the union of mapped_hops.sql) with its process, BizProcess
-- (CONVENTIONS v2; business_hops.sql says how): the first layers of placement.sql, and all a reader
-- that shows a hop's process needs (the lookup: a text this small plans in a few ms less).
SELECT
    *,
    multiIf(Process != '', Process,
            stage_owner != '?', stage_owner,
            ReturnId != '', {return_process:String},
            ShipmentId != '', {shipment_process:String},
            InvoiceId != '', {invoice_process:String},
            OrderId != '', {order_process:String},
            CustomerId != '', {customer_process:String},
            '') AS BizProcess
FROM (
    SELECT *, ${mapped_column}
        transform(Stage, {stage_names:Array(String)}, {stage_owner:Array(String)}, '?') AS stage_owner
    FROM ${hop_rows}
)
