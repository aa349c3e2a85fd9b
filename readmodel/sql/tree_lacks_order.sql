-- Whether some hop of the keys {tree} lacks an order id (1) or none does (0): every key of a hop is in
-- biz_keys with the hop's order id. Only such hops are resolved through the key graph (resolution.sql),
-- so when none is, a keyed query of these keys needs no resolution (transactions.resolution_needed).
SELECT count() > 0
FROM (SELECT 1 FROM {db:Identifier}.biz_keys WHERE Key IN {tree:Array(String)} AND OrderId = '' LIMIT 1)
