    *,
    ${mapped_column}
    -- the hop's process (CONVENTIONS v2; see business_hops.sql)
    multiIf(Process != '', Process,
            transform(Stage, {stage_names:Array(String)}, {stage_owner:Array(String)}, '?') != '?',
                transform(Stage, {stage_names:Array(String)}, {stage_owner:Array(String)}, '?'),
            ReturnId != '', {return_process:String},
            ShipmentId != '', {shipment_process:String},
            InvoiceId != '', {invoice_process:String},
            OrderId != '', {order_process:String},
            CustomerId != '', {customer_process:String},
            '') AS BizProcess,
    -- the value of that process's key attribute when the hop carries it
    multiIf(transform(BizProcess, {processes:Array(String)}, {key_columns:Array(UInt8)}, toUInt8(0)) AS biz_key_column = 1,
                OrderId,
            biz_key_column = 2, CustomerId, biz_key_column = 3, InvoiceId, biz_key_column = 4, ShipmentId,
            biz_key_column = 5, ReturnId, '') AS direct_key,
    -- otherwise: the kind of key to find through the key graph, and the hop's key to start from
    transform(BizProcess, {processes:Array(String)}, {process_key_kinds:Array(String)}, '') AS link_target,
    multiIf(ShipmentId != '', ShipmentId, ReturnId != '', ReturnId, InvoiceId != '', InvoiceId,
            OrderId != '', OrderId, '') AS link_source
