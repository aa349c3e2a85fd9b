-- The type-independent tables of an OCEL 2.0 SQLite log (the standard's relational form), with
-- the keys and references its validation checks; the per-type tables (event_<type>, object_<type>)
-- are created from the types of each log with their attributes as columns. A table with a primary
-- key is WITHOUT ROWID: its rows live in the key's own b-tree, filled in key order, so a row is
-- written once instead of into a table and again into its key's index.
CREATE TABLE event_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT);
CREATE TABLE object_map_type (ocel_type TEXT PRIMARY KEY, ocel_type_map TEXT);
CREATE TABLE event (
    ocel_id TEXT PRIMARY KEY,
    ocel_type TEXT REFERENCES event_map_type (ocel_type)
) WITHOUT ROWID;
CREATE TABLE object (
    ocel_id TEXT PRIMARY KEY,
    ocel_type TEXT REFERENCES object_map_type (ocel_type)
) WITHOUT ROWID;
CREATE TABLE event_object (
    ocel_event_id TEXT REFERENCES event (ocel_id),
    ocel_object_id TEXT REFERENCES object (ocel_id),
    ocel_qualifier TEXT,
    PRIMARY KEY (ocel_event_id, ocel_object_id, ocel_qualifier)
) WITHOUT ROWID;
CREATE TABLE object_object (
    ocel_source_id TEXT REFERENCES object (ocel_id),
    ocel_target_id TEXT REFERENCES object (ocel_id),
    ocel_qualifier TEXT,
    PRIMARY KEY (ocel_source_id, ocel_target_id, ocel_qualifier)
) WITHOUT ROWID;
