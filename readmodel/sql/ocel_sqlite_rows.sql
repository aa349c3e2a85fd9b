-- The rows of an OCEL 2.0 SQLite log, one statement per table it fills, each separated by a line
-- '-- table: NAME', each in the order of the table's key if it has one (SQLite appends to its b-tree instead of
-- inserting all over it). {objects} is a table holding ocel_objects.sql's rows for the window.
-- table: events
-- One row per event, by type then id: the rows of one event_<type> table come in one run (the
-- event table is then filled from those tables inside SQLite).
SELECT id, type, time_sql, process, system, channel, amount, currency, quantity, status, error_type
FROM (${events})
ORDER BY type, id
-- table: event_object
-- Sorted by event (each event's objects sorted within it), then spread: sorting the events' rows
-- costs less than sorting the relationships' (an ORDER BY on the spread rows would repeat the work).
SELECT id, key.2 AS object, key.1 AS qualifier
FROM (
    SELECT concat(TraceId, '-', SpanId) AS id, arraySort(k -> (k.2, k.1), keys) AS sorted_keys
    FROM (${hops})
    WHERE Stage != ''
    ORDER BY id
)
ARRAY JOIN sorted_keys AS key
-- table: object
SELECT id, type FROM {db:Identifier}.{objects:Identifier} ORDER BY id
-- table: object_changes
-- One row per change of an attribute of an object of the type {type}, with its value as text (status,
-- currency) or number (amount, quantity), by attribute (ocel.py spreads the values into the columns of
-- the type's table; ClickHouse writes them while Python writes the other tables).
SELECT id, attribute.4 AS time, attribute.1 AS field,
       if(attribute.1 IN ('amount', 'quantity'), NULL, attribute.2) AS text,
       if(attribute.1 IN ('amount', 'quantity'), toFloat64OrNull(attribute.2), NULL) AS number
FROM {db:Identifier}.{objects:Identifier}
ARRAY JOIN attributes AS attribute
WHERE type = {type:String}
ORDER BY field
-- table: object_object
SELECT id, relationship.1 AS target, relationship.2 AS qualifier
FROM {db:Identifier}.{objects:Identifier}
ARRAY JOIN relationships AS relationship
ORDER BY id, target, qualifier
