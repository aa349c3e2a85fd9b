-- The version of the exception lifecycle at {now}: it changes whenever what lifecycle.sql and
-- exceptions_queue.sql read from the lifecycle changes. Both tables are only appended to: an
-- action or a postponement adds a row (the first two counts), and a postponement running out by
-- {now} moves to the third count (the queue puts it back in the open queue then).
SELECT (SELECT count() FROM {db:Identifier}.biztrace_exception_events) AS actions,
       count() AS postponements, countIf(Until <= {now:DateTime64(9)}) AS ended
FROM {db:Identifier}.biztrace_exception_postponements
