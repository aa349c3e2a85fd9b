-- What changed in the exception lifecycle since a queue was built at {built} (exceptions.py patches
-- the kept queue with it): how many actions and postponements were recorded after {built} (their
-- At), and the keys whose exceptions they concern, with those of the postponements whose time ran
-- out in ({built}, {now}]. The caller compares the counts with the difference of the two versions
-- (lifecycle_version.sql): a row recorded with an earlier time (an action dated back) makes them
-- differ, and the queue is built whole instead.
SELECT
    (SELECT count() FROM {db:Identifier}.biztrace_exception_events WHERE At > {built:DateTime64(9)}) AS actions,
    (SELECT count() FROM {db:Identifier}.biztrace_exception_postponements WHERE At > {built:DateTime64(9)})
        AS postponements,
    arrayDistinct(arrayConcat(
        (SELECT groupArray(Key) FROM {db:Identifier}.biztrace_exception_events WHERE At > {built:DateTime64(9)}),
        (SELECT groupArray(Key) FROM {db:Identifier}.biztrace_exception_postponements
         WHERE At > {built:DateTime64(9)} OR (Until > {built:DateTime64(9)} AND Until <= {now:DateTime64(9)}))
    )) AS keys
