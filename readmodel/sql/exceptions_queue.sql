-- The exception queue at {now}: every exception, its lifecycle applied. The one definition that
-- the CLI's and the API's list, the dashboard's queue and its figures (exceptions_counts.sql,
-- exceptions_resolution.sql) read. {found:Identifier} holds exceptions_found.sql's rows: one per
-- exception, (process, key, kind), of what was detected.
--   * Its state is the last action in biztrace_exception_events (lifecycle.sql) that changes it:
--     resolved after a resolve, unless the problem started again after it (then open again);
--     postponed while its last postponement runs (its time is after {now}, it was made after the
--     last resolve and the exception is not resolved): it leaves the open queue and comes back by
--     itself when the time passes, as acknowledged or open; acknowledged after an acknowledge;
--     open otherwise. An assignment or a comment leaves the state as it is.
--   * Exceptions resolved (a resolve recorded, by a person or by the loop) and no longer detected
--     are listed when they were opened at or after {since} (the window; epoch 0: all of them), with
--     the system, priority and channel the loop recorded when it opened them (the filters apply). One
--     opened and no longer detected but not resolved yet (the loop resolves it on its next pass) is
--     not listed: it has no resolution time, and the time to resolve never counts it as zero.
--   * opened_at: the first open recorded, else when the problem started; resolved_at: the last
--     resolve; resolution_s = resolved_at - opened_at, the time-to-resolve figure.
-- {process}, {system}, {channel}, {priority}: only those ('' : all); {only}: only these keys' exceptions ([]: all).
WITH life AS ($lifecycle),
found AS (SELECT * FROM {db:Identifier}.{found:Identifier} WHERE {only:Array(String)} = [] OR has({only:Array(String)}, key)),
queue AS (
    SELECT f.process AS process, f.key AS key, f.kind AS kind, f.stage AS stage, f.system AS system,
        f.since AS since, f.priority AS priority, f.channel AS channel, f.evidence AS evidence, f.detail AS detail,
        f.amount AS amount, f.currency AS currency, true AS detected,
        toDateTime64(if(l.opens > 0, l.first_open, f.since), 9) AS opened_at,
        l.last_action = 'resolve' AND l.resolve_at > toDateTime64(0, 3) AND NOT f.since > l.resolve_at
            AS still_resolved,
        NOT still_resolved AND l.postponed_until > {now:DateTime64(9)} AND l.postponed_at > l.resolve_at AS postponed,
        multiIf(still_resolved, 'resolved', postponed, 'postponed', l.last_action = 'acknowledge', 'acknowledged',
                'open') AS state,
        l.acknowledged_by AS acknowledged_by, l.assignee AS assignee, if(still_resolved, l.resolver, '') AS resolved_by,
        l.note AS note, if(still_resolved, toNullable(toDateTime64(l.resolve_at, 9)), NULL) AS resolved_at,
        if(postponed, toNullable(toDateTime64(l.postponed_until, 9)), NULL) AS postponed_until,
        if(postponed, l.postponed_by, '') AS postponed_by, l.comments AS comments
    FROM found AS f
    LEFT JOIN life AS l ON l.process = f.process AND l.key = f.key AND l.kind = f.kind
    UNION ALL
    SELECT process, key, kind, last_stage AS stage, last_system AS system, toDateTime64(first_open, 9) AS since,
        last_priority AS priority, last_channel AS channel, [] AS evidence, '{}' AS detail,
        CAST(NULL AS Nullable(Float64)) AS amount, '' AS currency, false AS detected,
        toDateTime64(first_open, 9) AS opened_at, true AS still_resolved, false AS postponed, 'resolved' AS state,
        acknowledged_by, assignee, if(resolver != '', resolver, 'biztrace') AS resolved_by, note,
        toNullable(toDateTime64(resolve_at, 9)) AS resolved_at, CAST(NULL AS Nullable(DateTime64(9))) AS postponed_until,
        '' AS postponed_by, comments
    FROM life
    WHERE opens > 0 AND last_action = 'resolve' AND resolve_at > toDateTime64(0, 3) AND first_open >= {since:DateTime64(9)}
      AND (process, key, kind) NOT IN (SELECT process, key, kind FROM found)
)
SELECT process, key, kind, stage, system, since, priority, channel, evidence, detail, amount, currency, detected,
    opened_at, state,
    acknowledged_by, assignee, resolved_by, resolved_at, note, postponed_until, postponed_by, comments,
    if(resolved_at IS NULL, NULL, dateDiff('millisecond', opened_at, assumeNotNull(resolved_at)) / 1000) AS resolution_s
FROM queue
WHERE ({process:String} = '' OR process = {process:String})
  AND ({system:String} = '' OR system = {system:String})
  AND ({channel:String} = '' OR channel = {channel:String})
  AND ({priority:String} = '' OR priority = {priority:String})
