-- Every business hop, placed in its process as shared/CONVENTIONS.md v2 says (the one definition
-- every other query reads through, as the subquery named business_hops in theirs):
--   biz.process when the hop says it;
--   else its stage's process, when exactly one configured process has that stage; a stage that two
--     processes share gives '' (the hop is reported as unplaced, never guessed);
--   else (no stage, or a stage no process declares) the process keyed by the most specific key the
--     hop carries: return.id, shipment.id, invoice.id, order.id, customer.id, in that order.
-- BizKey is the hop's transaction key: the value of its process's key attribute.
-- Applied at query time from the configuration, so a changed process definition applies to data
-- already stored, like SLAs.
SELECT
    *,
    multiIf(Process != '', Process,
            transform(Stage, {stage_names:Array(String)}, {stage_owner:Array(String)}, '?') != '?',
                transform(Stage, {stage_names:Array(String)}, {stage_owner:Array(String)}, '?'),
            ReturnId != '', {return_process:String},
            ShipmentId != '', {shipment_process:String},
            InvoiceId != '', {invoice_process:String},
            OrderId != '', {order_process:String},
            CustomerId != '', {customer_process:String},
            '') AS BizProcess,
    -- the key of that process (order.id for order_to_cash, return.id for returns, ...)
    multiIf(transform(BizProcess, {processes:Array(String)}, {key_columns:Array(UInt8)}, toUInt8(0)) AS biz_key_column = 1,
                OrderId,
            biz_key_column = 2, CustomerId, biz_key_column = 3, InvoiceId, biz_key_column = 4, ShipmentId,
            biz_key_column = 5, ReturnId, '') AS BizKey
FROM {db:Identifier}.biz_hops
