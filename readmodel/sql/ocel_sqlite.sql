-- The type-independent tables of an OCEL 2.0 SQLite log (the standard's relational form), with
-- the keys and references its validation checks, and two staging tables (TEMP: never in the file)
-- from which the per-type tables (event_<type>, object_<type>, created from the types of each
-- log with their attributes as columns) are filled.
CREATE TABLE event_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT);
CREATE TABLE object_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT);
CREATE TABLE event (ocel_id TEXT PRIMARY KEY, ocel_type TEXT REFERENCES event_map_type (ocel_type));
CREATE TABLE object (ocel_id TEXT PRIMARY KEY, ocel_type TEXT REFERENCES object_map_type (ocel_type));
CREATE TABLE event_object (
    ocel_event_id TEXT REFERENCES event (ocel_id),
    ocel_object_id TEXT REFERENCES object (ocel_id),
    ocel_qualifier TEXT,
    PRIMARY KEY (ocel_event_id, ocel_object_id, ocel_qualifier)
);
CREATE TABLE object_object (
    ocel_source_id TEXT REFERENCES object (ocel_id),
    ocel_target_id TEXT REFERENCES object (ocel_id),
    ocel_qualifier TEXT,
    PRIMARY KEY (ocel_source_id, ocel_target_id, ocel_qualifier)
);
CREATE TEMP TABLE staged_event (
    ocel_id TEXT, ocel_type TEXT, ocel_time TIMESTAMP, process TEXT, system TEXT, channel TEXT, amount REAL,
    currency TEXT, quantity REAL, status TEXT, error_type TEXT
);
CREATE TEMP TABLE staged_object_change (
    ocel_id TEXT, ocel_type TEXT, ocel_time TIMESTAMP, ocel_changed_field TEXT, status TEXT, amount REAL,
    currency TEXT, quantity REAL
);
