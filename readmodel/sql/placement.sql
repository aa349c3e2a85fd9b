-- Every hop row (biz_hops, or with mappings the union of mapped_hops.sql) with the columns that place
-- it, in one text (business_hops.sql says how). In layers: each column is computed from the one below by name, so the
-- query's plan stays small (one expression inlined into the next cost ~0.1 s of planning per query).
SELECT
    *,
    -- the hop went through: neither in ERROR nor dead-lettered. What a delivery (duplicates.sql), a
    -- reconciliation side (reconcile.sql), a transaction's value (transactions.sql) and a replay's progress
    -- count: a failed or parked hop delivered, posted and accepted nothing
    StatusCode != 'Error' AND NOT DeadLetter AS went_through,
    -- the value of the hop's process's key attribute when the hop carries it
    multiIf(biz_key_column = 1, OrderId, biz_key_column = 2, CustomerId, biz_key_column = 3, InvoiceId,
            biz_key_column = 4, ShipmentId, biz_key_column = 5, ReturnId, '') AS direct_key,
    -- otherwise: the kind of key to find through the key graph, and the hop's key to start from
    transform(BizProcess, {processes:Array(String)}, {process_key_kinds:Array(String)}, '') AS link_target,
    multiIf(ShipmentId != '', ShipmentId, ReturnId != '', ReturnId, InvoiceId != '', InvoiceId,
            OrderId != '', OrderId, '') AS link_source
FROM (
    SELECT
        *,
        transform(BizProcess, {processes:Array(String)}, {key_columns:Array(UInt8)}, toUInt8(0)) AS biz_key_column
    -- the hop's process, BizProcess (hop_process.sql)
    FROM ${hop_process}
)
