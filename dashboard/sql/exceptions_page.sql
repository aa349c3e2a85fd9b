-- One page of the queue, sorted in ClickHouse ($order: one of dashboard.queries.EXCEPTION_SORTS).
SELECT process, key, kind, stage, system, state, priority, channel, since,
    dateDiff('second', since, {now:DateTime64(9)}) AS age_s, opened_at, assignee, acknowledged_by, resolved_by,
    resolution_s, note
FROM {queue:Identifier}
WHERE has({states:Array(String)}, state) AND ({kinds:Array(String)} = [] OR has({kinds:Array(String)}, kind))
ORDER BY $order
LIMIT {limit:UInt32} OFFSET {offset:UInt32}
