-- The flat rows of an OCEL 2.0 SQLite log, one statement per table it fills, each separated by a
-- line '-- table: NAME'. {objects} is a table holding ocel_objects.sql's rows for the window.
-- table: events
SELECT id, type, time_sql, process, system, channel, amount, currency, quantity, status, error_type
FROM (${events})
-- table: event_object
SELECT concat(TraceId, '-', SpanId) AS id, key.2 AS object, key.1 AS qualifier
FROM (${hops})
ARRAY JOIN keys AS key
WHERE Stage != ''
-- table: object
SELECT id, type FROM {db:Identifier}.{objects:Identifier}
-- table: object_changes
SELECT id, type, attribute.4 AS time, attribute.1 AS field,
       if(attribute.1 = 'status', attribute.2, NULL) AS status,
       if(attribute.1 = 'amount', toFloat64OrNull(attribute.2), NULL) AS amount,
       if(attribute.1 = 'currency', attribute.2, NULL) AS currency,
       if(attribute.1 = 'quantity', toFloat64OrNull(attribute.2), NULL) AS quantity
FROM {db:Identifier}.{objects:Identifier}
ARRAY JOIN attributes AS attribute
-- table: object_object
SELECT id, relationship.1 AS target, relationship.2 AS qualifier
FROM {db:Identifier}.{objects:Identifier}
ARRAY JOIN relationships AS relationship
