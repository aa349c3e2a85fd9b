-- Each exception's lifecycle, (process, key, kind), from the audit trail in
-- biztrace_exception_events: the last action that changes its state (an assignment and a comment do
-- not) and when, its stage, the first open and how many there were, who acknowledged, the assignee,
-- who resolved it, when and why; the comments, oldest first, as (at, by, text); and from
-- biztrace_exception_postponements its latest postponement: until when (epoch 0 for an
-- un-postponement, and when never postponed), made when and by whom; the system at fault, priority and
-- channel the loop last recorded with an open or a reopen. Readers select what they need.
-- {keys}: only these keys ([]: all); {process}: only this process ('': all).
SELECT e.process AS process, e.key AS key, e.kind AS kind, last_action, last_action_at, last_stage, first_open, opens,
    acknowledged_by, assignee, resolver, resolve_at, note, comments, last_system, last_priority, last_channel,
    p.until AS postponed_until, p.at AS postponed_at, p.by AS postponed_by
FROM (
    SELECT Process AS process, Key AS key, Kind AS kind,
        argMaxIf(Action, At, Action NOT IN ('assign', 'comment')) AS last_action,
        maxIf(At, Action NOT IN ('assign', 'comment')) AS last_action_at,
        argMax(Stage, At) AS last_stage,
        minIf(At, Action = 'open') AS first_open,
        countIf(Action = 'open') AS opens,
        argMaxIf(Actor, At, Action = 'acknowledge') AS acknowledged_by,
        argMaxIf(Assignee, At, Action = 'assign') AS assignee,
        argMaxIf(Actor, At, Action = 'resolve') AS resolver,
        maxIf(At, Action = 'resolve') AS resolve_at,
        argMaxIf(Note, At, Action = 'resolve') AS note,
        arraySort(c -> c.1, groupArrayIf((At, Actor, Note), Action = 'comment')) AS comments,
        argMaxIf(System, At, Action IN ('open', 'reopen')) AS last_system,
        argMaxIf(Priority, At, Action IN ('open', 'reopen')) AS last_priority,
        argMaxIf(Channel, At, Action IN ('open', 'reopen')) AS last_channel
    FROM {db:Identifier}.biztrace_exception_events
    WHERE ({keys:Array(String)} = [] OR has({keys:Array(String)}, Key))
      AND ({process:String} = '' OR Process = {process:String})
    GROUP BY process, key, kind
) AS e
LEFT JOIN (
    SELECT Process AS process, Key AS key, Kind AS kind, argMax(Until, At) AS until, max(At) AS at,
        argMax(Actor, At) AS by
    FROM {db:Identifier}.biztrace_exception_postponements
    WHERE ({keys:Array(String)} = [] OR has({keys:Array(String)}, Key))
      AND ({process:String} = '' OR Process = {process:String})
    GROUP BY process, key, kind
) AS p ON p.process = e.process AND p.key = e.key AND p.kind = e.kind
