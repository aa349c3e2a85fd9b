-- The exception queue with its lifecycle applied, as alerts/exceptions.py `list_exceptions` does
-- (the state is the last person's or the loop's action in biztrace_exception_events; a problem
-- detected again after its resolve is open again), plus the exceptions resolved and no longer
-- detected that were opened in the window, for the resolution KPIs. {detected:Identifier} holds
-- what readmodel/sql/exceptions_detected.sql found (and the mismatches).
WITH life AS ($lifecycle),
queue AS (
    SELECT d.process AS process, d.key AS key, d.kind AS kind, d.stage AS stage, d.system AS system,
        d.since AS since, d.priority AS priority, d.channel AS channel,
        toDateTime64(if(l.opens > 0, l.first_open, d.since), 9) AS opened_at,
        l.last_action = 'resolve' AND l.resolve_at > toDateTime64(0, 3) AS was_resolved,
        multiIf(was_resolved AND NOT d.since > l.resolve_at, 'resolved', l.last_action = 'acknowledge',
                'acknowledged', 'open') AS state,
        l.acknowledged_by AS acknowledged_by, l.assignee AS assignee, l.resolver AS resolved_by, l.note AS note,
        if(state = 'resolved', toDateTime64(l.resolve_at, 9), NULL) AS resolved_at
    FROM {detected:Identifier} AS d
    LEFT JOIN life AS l ON l.process = d.process AND l.key = d.key AND l.kind = d.kind
    UNION ALL
    SELECT process, key, kind, last_stage AS stage, '' AS system, toDateTime64(first_open, 9) AS since,
        '' AS priority, '' AS channel, toDateTime64(first_open, 9) AS opened_at, true AS was_resolved,
        'resolved' AS state, acknowledged_by, assignee, if(resolver != '', resolver, 'biztrace') AS resolved_by, note,
        toDateTime64(if(resolve_at > toDateTime64(0, 3), resolve_at, last_action_at), 9) AS resolved_at
    FROM life
    WHERE opens > 0 AND first_open >= {since:DateTime64(9)}
      AND (process, key, kind) NOT IN (SELECT process, key, kind FROM {detected:Identifier})
)
SELECT process, key, kind, stage, system, since, priority, channel, opened_at, state, acknowledged_by, assignee,
    resolved_by, note, resolved_at,
    if(resolved_at IS NULL, NULL, dateDiff('millisecond', opened_at, assumeNotNull(resolved_at)) / 1000) AS resolution_s
FROM queue
WHERE ({system:String} = '' OR system = {system:String})
  AND ({channel:String} = '' OR channel = {channel:String})
  AND ({priority:String} = '' OR priority = {priority:String})
