-- The OCEL objects of [{since}, {until}): one per business key carried by a hop of the window,
-- unordered (each form sorts what it writes). Its attributes are what its own hops reported (ocel_hops.sql's owner), each
-- observation time-stamped and kept only when the value changed from the previous one of the
-- same attribute, oldest first. Its relationships are the distinct object-to-object pairs of its
-- hops where it is the source (ocel_hops.sql's pairs), as (target id, qualifier).
SELECT
    type,
    id,
    arrayMap(o -> (o.1, o.3, formatDateTime(toDateTime64(o.2, 6), '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC'),
                   formatDateTime(toDateTime64(o.2, 6), '%Y-%m-%d %H:%i:%S.%f', 'UTC')),
             -- each observation kept when it differs from the previous one of the same attribute
             arraySort(o -> o.2, arrayFilter((o, previous) -> o.1 != previous.1 OR o.3 != previous.3, by_name,
                                             arrayPopBack(arrayPushFront(by_name, ('', toDateTime64(0, 9), '')))))) AS attributes,
    arraySort(links) AS relationships
FROM (
    SELECT
        any(key.1) AS type,
        key.2 AS id,  -- '<type>:<key>': the id alone tells objects apart
        arraySort(o -> (o.1, o.2),
                  groupArrayArray(if(key.2 = owner_object, arrayMap(a -> (a.1, Timestamp, a.2), observed), [])))
            AS by_name,
        groupUniqArrayArray(arrayMap(p -> (p.3, p.4), arrayFilter(p -> p.2 = key.2, pairs))) AS links
    FROM (${hops})
    ARRAY JOIN keys AS key
    GROUP BY key.2
)
