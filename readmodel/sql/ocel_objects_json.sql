-- Each OCEL object of ocel_objects.sql as its JSON text (OCEL 2.0 JSON form: attribute values as
-- strings, each with its time), with how many object-to-object relationships it holds; by type and
-- id, sorted once the text is made.
SELECT
    type,
    toJSONString(CAST((id, type, arrayMap(a -> (a.1, a.2, a.3), attributes), relationships),
        'Tuple(id String, type String, attributes Array(Tuple(name String, value String, time String)), relationships Array(Tuple(objectId String, qualifier String)))')) AS document,
    length(relationships) AS links
FROM (${objects})
ORDER BY type, id
