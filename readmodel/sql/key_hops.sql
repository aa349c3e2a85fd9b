-- Every hop that carries one business key, across all its traces, in time order. $match is
-- either the order-id path (biz_hops' primary key directly) or the any-key path (biz_keys,
-- sorted by key, finds the hops, then biz_hops is read by its primary key). Either touches a
-- few granules of each table.
SELECT
    h.Timestamp AS start,
    h.TraceId AS trace_id,
    h.SpanId AS span_id,
    h.ParentSpanId AS parent_span_id,
    h.ServiceName AS service,
    h.System AS system,
    h.Process AS process,
    h.Stage AS stage,
    h.SpanName AS span_name,
    h.Duration AS duration_ns,
    h.StatusCode AS status,
    h.StatusMessage AS status_message,
    h.ErrorType AS error_type,
    h.OrderId AS order_id,
    h.CustomerId AS customer_id,
    h.Amount AS amount,
    h.Currency AS currency,
    h.Quantity AS quantity,
    h.BizStatus AS biz_status
FROM {db:Identifier}.biz_hops AS h
WHERE $match
ORDER BY h.Timestamp, h.SpanId
LIMIT 1 BY h.TraceId, h.SpanId
LIMIT {limit:UInt32}
