-- The latest replay request of one exception ({process}, {key}, {kind}): its id, when it was
-- requested and its outcome ('pending' while it has none). Reads the audit table only.
SELECT RequestId AS request_id, minIf(At, Event = 'requested') AS requested_at,
    if(countIf(Event = 'outcome') > 0, argMaxIf(Outcome, At, Event = 'outcome'), 'pending') AS outcome
FROM {db:Identifier}.biztrace_replays
WHERE Process = {process:String} AND Key = {key:String} AND Kind = {kind:String}
GROUP BY RequestId
HAVING countIf(Event = 'requested') > 0
ORDER BY requested_at DESC, request_id DESC
LIMIT 1
