-- Every hop of a key's tree (keygraph.key_kinds: what `biztrace order KEY` shows), across all
-- their traces, in time order: the key's own hops and those of every key linked to it (an order's
-- shipments, invoices and returns, even hops that carry only their own id). The match (lookup.py)
-- reads the tree's order ids ({orders}) straight from biz_hops' primary key, and its other keys
-- ({keys}) through biz_keys (sorted by key), then biz_hops by its primary key: a few granules of each
-- table. The rows: biz_hops, or with mapping rules mapped_hops.sql (the mapped spans too); asked with
-- a configuration, placed (hop_process.sql: $process is the hop's BizProcess, the process every figure
-- counts it in; else the biz.process attribute as sent). $stored: biz_hops.Ingested (NULL for mapped spans).
SELECT
    h.Timestamp AS start,
    h.TraceId AS trace_id,
    h.SpanId AS span_id,
    h.ParentSpanId AS parent_span_id,
    h.ServiceName AS service,
    h.System AS system,
    $process AS process,
    h.Stage AS stage,
    h.SpanName AS span_name,
    h.Duration AS duration_ns,
    h.StatusCode AS status,
    h.StatusMessage AS status_message,
    h.ErrorType AS error_type,
    h.OrderId AS order_id,
    h.CustomerId AS customer_id,
    h.ShipmentId AS shipment_id,
    h.InvoiceId AS invoice_id,
    h.ReturnId AS return_id,
    h.Amount AS amount,
    h.Currency AS currency,
    h.Quantity AS quantity,
    h.BizStatus AS biz_status,
    h.Mapped AS mapped,
    $stored AS stored_at
FROM $rows AS h
WHERE $match
ORDER BY h.Timestamp, h.SpanId
LIMIT 1 BY h.TraceId, h.SpanId
LIMIT {limit:UInt32}
