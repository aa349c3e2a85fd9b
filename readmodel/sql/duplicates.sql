-- Business events delivered more than once (same biz.event_id) per transaction. Candidates are
-- found first by a 64-bit hash of the id alone (a narrow GROUP BY of integers, ~7x cheaper than
-- one by process, key and id over every event; a hash collision only adds a candidate); only
-- the candidates' hops are then grouped, exactly, per transaction.
SELECT
    Process AS process,
    transform(Process, {processes:Array(String)}, {key_columns:Array(UInt8)}, toUInt8(0)) AS key_column,
    multiIf(key_column = 1, OrderId, key_column = 2, CustomerId, key_column = 3, InvoiceId,
            key_column = 4, ShipmentId, key_column = 5, ReturnId, '') AS key,
    EventId AS event_id,
    count() AS deliveries,
    any(Stage) AS stage,
    argMax(System, Timestamp) AS system,
    min(Timestamp) AS first_at,
    max(Timestamp) AS last_at,
    groupArray(SpanId) AS span_ids
FROM {db:Identifier}.biz_hops
WHERE Process IN {processes:Array(String)} AND EventId != '' AND Timestamp <= {now:DateTime64(9)}
  AND Timestamp >= {since:DateTime64(9)}
  AND cityHash64(EventId) IN (
      SELECT cityHash64(EventId) AS event_hash FROM {db:Identifier}.biz_hops
      WHERE EventId != '' AND Timestamp <= {now:DateTime64(9)} AND Timestamp >= {since:DateTime64(9)}
        AND ({keys:Array(String)} = [] OR (OrderId, Timestamp, SpanId) IN (
            SELECT OrderId, Timestamp, SpanId FROM {db:Identifier}.biz_keys WHERE Key IN {keys:Array(String)}))
      GROUP BY event_hash HAVING count() > 1)
  AND ({keys:Array(String)} = [] OR has({keys:Array(String)}, key))
  AND ({keys:Array(String)} = [] OR (OrderId, Timestamp, SpanId) IN (
      SELECT OrderId, Timestamp, SpanId FROM {db:Identifier}.biz_keys WHERE Key IN {keys:Array(String)}))
GROUP BY process, key_column, key, event_id
HAVING deliveries > 1 AND key != ''
