-- The alert loop's bookkeeping at {now}, as the rows to append to biztrace_exception_events:
--   open    a detected exception nobody has seen yet (stamped when the problem started)
--   reopen  one detected again, having started after its last resolve
--   resolve one that is no longer detected and was not resolved yet
-- {found:Identifier} holds exceptions_found.sql's rows: one per exception, (process, key, kind), a
-- problem detected twice (two duplicated events of one order) since its earliest start, at the stage
-- it was first detected at. The stored lifecycle is lifecycle.sql's. Built on the previous pass, only the
-- exceptions of exceptions_sync_scope.sql are compared, found and stored (no other one has an event).
WITH
detected AS (SELECT process, key, kind, stage, since, system, priority, channel FROM {db:Identifier}.{found:Identifier}
             WHERE $in_scope),
life AS ($lifecycle)
-- an open and a reopen carry the exception's system, priority and channel (a resolve leaves them empty: the
-- lifecycle keeps the latest ones recorded, for a resolved exception no longer detected)
SELECT toDateTime64(since, 3) AS At, process AS Process, key AS Key, kind AS Kind, stage AS Stage,
       'open' AS Action, '' AS Note, system AS System, priority AS Priority, channel AS Channel
FROM detected LEFT ANTI JOIN life USING (process, key, kind)
UNION ALL
SELECT toDateTime64({now:DateTime64(9)}, 3), d.process, d.key, d.kind, d.stage, 'reopen', 'the problem came back',
       d.system, d.priority, d.channel
FROM detected AS d INNER JOIN life AS l USING (process, key, kind)
WHERE l.last_action = 'resolve' AND l.resolve_at > toDateTime64(0, 3) AND d.since > l.resolve_at
UNION ALL
SELECT toDateTime64({now:DateTime64(9)}, 3), process, key, kind, last_stage, 'resolve', 'no longer detected', '', '', ''
FROM life LEFT ANTI JOIN detected USING (process, key, kind)
WHERE last_action != 'resolve'
