-- Each exception's lifecycle, (process, key, kind), from the audit trail in
-- biztrace_exception_events: the last action that changes its state (an assignment does not) and
-- when, its stage, the first open and how many there were, who acknowledged, the assignee, who
-- resolved it, when and why. Readers select what they need. {keys}: only these keys ([]: all);
-- {process}: only this process ('': all).
SELECT Process AS process, Key AS key, Kind AS kind,
    argMaxIf(Action, At, Action != 'assign') AS last_action,
    maxIf(At, Action != 'assign') AS last_action_at,
    argMax(Stage, At) AS last_stage,
    minIf(At, Action = 'open') AS first_open,
    countIf(Action = 'open') AS opens,
    argMaxIf(Actor, At, Action = 'acknowledge') AS acknowledged_by,
    argMaxIf(Assignee, At, Action = 'assign') AS assignee,
    argMaxIf(Actor, At, Action = 'resolve') AS resolver,
    maxIf(At, Action = 'resolve') AS resolve_at,
    argMaxIf(Note, At, Action = 'resolve') AS note
FROM {db:Identifier}.biztrace_exception_events
WHERE ({keys:Array(String)} = [] OR has({keys:Array(String)}, Key))
  AND ({process:String} = '' OR Process = {process:String})
GROUP BY process, key, kind
