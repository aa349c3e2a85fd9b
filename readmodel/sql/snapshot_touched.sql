-- The transaction keys whose rows a kept snapshot must compute again (snapshots.py): those of the
-- hops stored since {stored_since} (biz_hops.Ingested, the server's clock; for a span a mapping rule
-- makes a hop, the time its otel_traces part was written: a superset, since a merge writes a part
-- again), and those of the hops
-- that {now} has reached since the previous pass's {previous_now} (a hop stamped ahead of the
-- clock is not read before its time). A hop whose key resolves through the key graph counts for
-- the transaction it resolves to, as in every reader (business_hops.sql).
-- `owned`: the key is the hop's transaction's; the hop's own order, shipment, invoice and return ids
-- come too (owned false), for the findings no transaction owns yet (a reconciliation pair named by its
-- match key: exceptions.py).
SELECT carried.1 AS key, max(carried.2) AS owned
FROM ${business_hops}
ARRAY JOIN arrayFilter(k -> k.1 != '', [(BizKey, true), (OrderId, false), (ShipmentId, false), (InvoiceId, false),
                                       (ReturnId, false)]) AS carried
WHERE BizProcess IN {processes:Array(String)}
  AND (Ingested >= {stored_since:DateTime} ${mapped_stored}
       OR (Timestamp > {previous_now:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}))
GROUP BY key
