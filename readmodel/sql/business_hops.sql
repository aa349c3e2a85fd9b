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
-- shortest path. Only hops without an order.id are resolved, so the resolution reads biz_hops'
-- leading primary-key range (OrderId = '') and the few links of those hops' keys, once per query
-- (scalar subqueries), never a join over all hops. An order's several shipments never resolve a
-- hop to one of them (order -> shipment is not a path up).
-- Applied at query time from the configuration, so a changed process definition or mapping
-- applies to data already stored, like SLAs.
WITH
    (SELECT groupUniqArray(link_source)
     FROM (SELECT ${placement} FROM ${hop_rows} WHERE OrderId = '')
     WHERE direct_key = '' AND link_source != '' AND link_target != '') AS link_sources,
    (SELECT groupUniqArray(Linked) FROM {db:Identifier}.biz_links
     WHERE has(link_sources, Key) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))}
       AND LinkedKind != 'customer') AS link_mids,
    (SELECT (groupArray(hash), groupArray(target)) FROM (
        SELECT cityHash64(source, LinkedKind) AS hash, argMin(Linked, (steps, Linked)) AS target
        FROM (
            SELECT Key AS source, Linked, LinkedKind, 1 AS steps FROM {db:Identifier}.biz_links
            WHERE has(link_sources, Key) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))}
            UNION ALL
            SELECT first.Key AS source, second.Linked AS Linked, second.LinkedKind AS LinkedKind, 2 AS steps
            FROM (SELECT DISTINCT Key, Linked FROM {db:Identifier}.biz_links
                  WHERE has(link_sources, Key) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))}
                    AND LinkedKind != 'customer') AS first
            INNER JOIN (SELECT DISTINCT Key, Linked, LinkedKind FROM {db:Identifier}.biz_links
                        WHERE has(link_mids, Key) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))})
                AS second ON second.Key = first.Linked)
        GROUP BY hash)) AS link_resolved
SELECT
    ${placement},
    -- with no hop to resolve (every hop carries its key) the scalar is empty and this folds to direct_key
    if(empty(link_resolved.1) OR direct_key != '' OR link_source = '', direct_key,
       transform(cityHash64(link_source, link_target), link_resolved.1, link_resolved.2, '')) AS BizKey
FROM ${hop_rows}
