-- The OCEL events of [{since}, {until}), unordered (each form sorts the rows it writes, after shaping
-- them: sorting these wide rows cost more than the rest of the query): one per business hop that reached a stage
-- (the event type). The id is the span's (trace id-span id); the attributes are the hop's own,
-- both as (name, text) pairs for the JSON form and as typed columns (NULL: not reported) for the
-- SQLite form; the relationships are the objects of every key the hop carries, qualified by type.
SELECT
    concat(TraceId, '-', SpanId) AS id,
    toString(Stage) AS type,
    formatDateTime(toDateTime64(Timestamp, 6), '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC') AS time,
    formatDateTime(toDateTime64(Timestamp, 6), '%Y-%m-%d %H:%i:%S.%f', 'UTC') AS time_sql,
    attributes,
    arrayMap(k -> (k.2, k.1), keys) AS relationships,
    nullIf(toString(BizProcess), '') AS process,
    nullIf(toString(System), '') AS system,
    nullIf(toString(Channel), '') AS channel,
    Amount AS amount,
    nullIf(toString(Currency), '') AS currency,
    Quantity AS quantity,
    nullIf(toString(BizStatus), '') AS status,
    nullIf(toString(ErrorType), '') AS error_type
FROM (${hops})
WHERE Stage != ''
