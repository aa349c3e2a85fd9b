-- The hop rows of a configuration with mapping rules (`mappings:`; without them, stored_hops.sql):
-- the stored hops (biz_hops), and the spans a rule makes into hops, read from otel_traces when the
-- data is read: only the mapped services' spans (otel_traces is sorted by ServiceName). A span a
-- rule matches is taken from the rule's branch only (never twice). Ingested: when the stored hop was
-- stored; a mapped span's is its part's (snapshot_touched.sql reads it there), 0 in the row.
-- Mapping parameters, one array element per rule in file order (the first rule that matches wins):
-- {map_service} and {map_regex} (the span name as an anchored regex, '' any), {map_stage},
-- {map_process}, {map_system} ('' keep the span's own), and per key column (order, customer,
-- invoice, shipment, return) {map_key_attr} (the attribute holding it) and {map_key_group} (>0: the
-- span name's capture group holding it).
SELECT
    Timestamp, TraceId, SpanId, ParentSpanId, ServiceName, SpanName, Duration, StatusCode, StatusMessage,
    OrderId, CustomerId, SkuIds, InvoiceId, ShipmentId, ReturnId, Process, Stage, System, Channel, Priority,
    Amount, Currency, Quantity, BizStatus, EventId, DeadLetter, ErrorType, false AS Mapped, Ingested
FROM {db:Identifier}.biz_hops
WHERE NOT (ServiceName IN {map_services:Array(String)}
           AND arrayExists(i -> {map_service:Array(String)}[i] = ServiceName AND match(SpanName, {map_regex:Array(String)}[i]),
                           arrayEnumerate({map_service:Array(String)})))
UNION ALL
${mapped_spans}
