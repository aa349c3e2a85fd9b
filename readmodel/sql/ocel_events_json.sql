-- Each OCEL event of ocel_events.sql as its JSON text (OCEL 2.0 JSON form: every attribute value
-- a string, as the standard's JSON schema requires; the declared type tells readers how to read
-- it), with how many event-to-object relationships it holds; oldest first, sorted once the text is made.
SELECT
    toJSONString(CAST((id, type, time, attributes, relationships),
        'Tuple(id String, type String, time String, attributes Array(Tuple(name String, value String)), relationships Array(Tuple(objectId String, qualifier String)))')) AS document,
    length(relationships) AS links
FROM (${events})
ORDER BY time, id
