-- Per object type: how many attribute changes and object-to-object relationships the window's
-- objects hold (the rows of ocel_sqlite_rows.sql's object_changes and object_object statements), to
-- check that all were written.
SELECT type, sum(length(attributes)) AS changes, sum(length(relationships)) AS pairs
FROM {db:Identifier}.{objects:Identifier}
GROUP BY type
