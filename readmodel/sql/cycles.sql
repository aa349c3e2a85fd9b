-- Where the latest cycle of each transaction of a process whose key is reused starts (`repeats:`, master
-- data: one customer, many updates). Each hop of such a process's first stage that carries the process's
-- key starts a cycle (a business event delivered twice starts one, at its first delivery); the transaction
-- is its key's latest cycle, the hops since that start (transactions.sql joins this by cycle_hash and reads
-- the hops at or after cycle_start). Read under the same bounds as the transaction's hops ({now}, {since},
-- {keys}), so that a cycle starting after {now} does not count yet and a window's transactions are its own
-- cycles.
-- Read from the placed hops (placement.sql: process and own key), not through business_hops.sql: a start hop
-- without its process's key (keyed only through the key graph) does not start a cycle; planning the key
-- graph's resolution a second time cost ~40 ms per statement.
SELECT cityHash64(BizProcess, direct_key) AS cycle_hash, max(first_at) AS cycle_start
FROM (
    SELECT BizProcess, direct_key, min(Timestamp) AS first_at
    FROM ${placement}
    -- the stage first, a column of the stored hops (and of the mapped ones): a filter on it is read before any
    -- hop is placed (a filter on BizProcess alone placed every hop, ~0.4 s at 8M hops)
    WHERE Stage IN {cycle_stages:Array(String)} AND (BizProcess, Stage) IN {cycle_starts:Array(Tuple(String, String))}
      AND direct_key != '' AND Timestamp <= {now:DateTime64(9)} AND Timestamp >= {since:DateTime64(9)}
      AND ${hops_of_keys}
    GROUP BY BizProcess, direct_key, if(EventId = '', SpanId, EventId)
)
GROUP BY BizProcess, direct_key
