-- The key graph's answers for the hops that lack their process's key (business_hops.sql says which
-- and how): one row per (the hop's own key, the kind of key its process wants), as the 64-bit hash
-- business_hops.sql joins by, with the key it resolves to (the shortest path up, then the least key).
-- The keys to resolve are collected by scalar subqueries (over biz_hops' leading primary-key range,
-- OrderId = ''), their links read by biz_links' primary key. A fragment of business_hops.sql; a reader
-- that asks several queries computes it once into a table they all join (transactions.resolution):
-- its scalar subqueries and joins are then analysed once, not once per statement (~50 ms each).
WITH
    (SELECT groupUniqArray(link_source)
     FROM ${placement}
     WHERE OrderId = '' AND direct_key = '' AND link_source != '' AND link_target != ''
       -- asked for some keys ({keys}): only the hops of their trees
       AND ({keys:Array(String)} = [] OR ${tree_hop})) AS link_sources,
    (SELECT groupUniqArray(Linked) FROM ${links}
     WHERE Key IN (SELECT arrayJoin(link_sources)) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))}
       AND LinkedKind != 'customer') AS link_mids
SELECT cityHash64(source, LinkedKind) AS hash, argMin(Linked, (steps, Linked)) AS target
FROM (
    SELECT Key AS source, Linked, LinkedKind, 1 AS steps FROM ${links}
    WHERE Key IN (SELECT arrayJoin(link_sources)) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))}
    UNION ALL
    SELECT first.Key AS source, second.Linked AS Linked, second.LinkedKind AS LinkedKind, 2 AS steps
    FROM (SELECT DISTINCT Key, Linked FROM ${links}
          WHERE Key IN (SELECT arrayJoin(link_sources)) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))}
            AND LinkedKind != 'customer') AS first
    INNER JOIN (SELECT DISTINCT Key, Linked, LinkedKind FROM ${links}
                WHERE Key IN (SELECT arrayJoin(link_mids)) AND (KeyKind, LinkedKind) IN {link_up:Array(Tuple(String, String))})
        AS second ON second.Key = first.Linked)
GROUP BY hash
