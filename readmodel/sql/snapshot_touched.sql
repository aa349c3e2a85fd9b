-- The transaction keys whose rows a kept snapshot must compute again (snapshots.py): those of the
-- hops stored since {stored_since} (biz_hops.Ingested, the server's clock), and those of the hops
-- that {now} has reached since the previous pass's {previous_now} (a hop stamped ahead of the
-- clock is not read before its time). A hop whose key resolves through the key graph counts for
-- the transaction it resolves to, as in every reader (business_hops.sql).
SELECT DISTINCT BizKey AS key
FROM ${business_hops}
WHERE BizProcess IN {processes:Array(String)} AND BizKey != ''
  AND (Ingested >= {stored_since:DateTime}
       OR (Timestamp > {previous_now:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}))
