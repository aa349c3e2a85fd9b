-- Business events delivered more than once (same biz.event_id) per transaction. A delivery is a hop that
-- went through (placement.sql's went_through): one that ended in ERROR or was dead-lettered delivered
-- nothing, so its retry (the middleware's, or a replay biztrace handed off) is not a duplicate. Candidates are
-- found first by a 64-bit hash of the id alone (a narrow GROUP BY of integers, ~7x cheaper than
-- one by process, key and id over every event; a hash collision only adds a candidate); only
-- the candidates' hops are then grouped, exactly, per transaction.
SELECT
    BizProcess AS process,
    BizKey AS key,
    EventId AS event_id,
    -- the same span delivered twice is one delivery (a producer's retry), not a business duplicate
    uniqExact(SpanId) AS deliveries,
    argMin(Stage, (Timestamp, SpanId)) AS stage,  -- by time, then span id: the same every time
    argMax(System, (Timestamp, SpanId)) AS system,
    min(Timestamp) AS first_at,
    max(Timestamp) AS last_at,
    -- the deliveries' spans in time order (then by id): the same evidence every time it is read
    arrayMap(x -> x.2, arraySort(groupUniqArray((Timestamp, SpanId)))) AS span_ids
FROM ${business_hops}
WHERE BizProcess IN {processes:Array(String)} AND EventId != '' AND Timestamp <= {now:DateTime64(9)}
  AND Timestamp >= {since:DateTime64(9)} AND went_through
  AND cityHash64(EventId) IN (
      SELECT cityHash64(EventId) AS event_hash FROM {db:Identifier}.biz_hops
      WHERE EventId != '' AND Timestamp <= {now:DateTime64(9)} AND Timestamp >= {since:DateTime64(9)}
        -- asked for some keys: only their trees' hops, found by biz_keys' primary key (not a scan of every event)
        AND ({keys:Array(String)} = [] OR ${tree_hop})
      GROUP BY event_hash HAVING uniqExact(SpanId) > 1)
  AND ({keys:Array(String)} = [] OR has({keys:Array(String)}, key))
  AND ${hops_of_keys}
GROUP BY process, key, event_id
HAVING deliveries > 1 AND key != ''
