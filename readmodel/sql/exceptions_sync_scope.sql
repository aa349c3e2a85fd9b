-- The exceptions whose bookkeeping may change at this pass, when it is built on the previous pass (its
-- exceptions found, {previous:Identifier}, and its events recorded): those found now ({found:Identifier})
-- or by the previous pass but not by both with the same start, and those a person acted on since that
-- pass's watermark {stored_since} (biztrace_exception_events.Inserted, the server's clock, as the
-- snapshot's watermark). exceptions_sync.sql gives any other exception no event: found by both passes
-- with the same start, or by neither, its lifecycle changed since only by the previous pass's own events,
-- which opened, reopened or resolved it as this pass would.
SELECT process, key, kind FROM (
    SELECT process, key, kind, since FROM {db:Identifier}.{found:Identifier}
    UNION ALL
    SELECT process, key, kind, since FROM {db:Identifier}.{previous:Identifier}
)
GROUP BY process, key, kind
HAVING count() = 1 OR min(since) != max(since)  -- (each table has one row per exception: exceptions_found.sql)
UNION DISTINCT
SELECT Process AS process, Key AS key, Kind AS kind FROM {db:Identifier}.biztrace_exception_events
WHERE Inserted >= {stored_since:DateTime} AND Actor != {system_actor:String}
