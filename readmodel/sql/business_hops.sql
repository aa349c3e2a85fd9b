-- Every business hop, placed in its process as shared/CONVENTIONS.md v2 says (the one definition
-- every other query reads through, as the subquery named business_hops in theirs).
-- Rows: biz_hops, and with mapping rules the spans they make hops (mapped_hops.sql; Mapped says
-- which). Also in the row: the working columns of placement.sql (direct_key, link_source, ...).
-- BizProcess (placement.sql):
--   biz.process when the hop says it;
--   else its stage's process, when exactly one configured process has that stage; a stage that two
--     processes share gives '' (the hop is reported as unplaced, never guessed);
--   else (no stage, or a stage no process declares) the process keyed by the most specific key the
--     hop carries: return.id, shipment.id, invoice.id, order.id, customer.id, in that order.
-- BizKey is the hop's transaction key: the value of its process's key attribute; when the hop does
-- not carry it (a shipment.confirmed hop with only shipment.id), the key the key graph (biz_links)
-- links to the hop's own key: one step (shipment -> order, return -> order, invoice -> order) or two
-- (invoice -> shipment -> order), only along {link_up} (child kind -> parent kind), preferring the
-- shortest path. An order's several shipments never resolve a hop to one of them (order ->
-- shipment is not a path up). Only hops without an order.id are resolved (resolution.sql: their keys'
-- answers, computed in the query or read from a reader's table of them), joined to the hops by a
-- 64-bit hash (a hash join whose table is empty when every hop carries its key). A transform() over
-- the same arrays cost several times more (its table was rebuilt block after block).
-- Applied at query time from the configuration, so a changed process definition or mapping
-- applies to data already stored, like SLAs.
SELECT
    h.*,
    if(h.resolve_hash = 0, h.direct_key, resolved.target) AS BizKey
FROM (
    SELECT
        *,
        -- the hops to resolve; every other hop keeps its own key (0 matches nothing: no join work)
        if(direct_key = '' AND link_source != '' AND link_target != '', cityHash64(link_source, link_target), 0)
            AS resolve_hash
    FROM ${placement}
) AS h
LEFT ANY JOIN ${resolution} AS resolved ON resolved.hash = h.resolve_hash
