-- Rows of the exception queue (a table of exceptions_queue.sql's rows), sorted in ClickHouse
-- ($order: one of exceptions.SORTS). {states}, {kinds}: only those ([]: all); {stage}: only that
-- stage (''); {min_age_s}: only problems at least that old (-1: any).
SELECT process, key, kind, stage, system, since, dateDiff('second', since, {now:DateTime64(9)}) AS age_s, evidence,
    detail, priority, channel, amount, currency, detected, state, opened_at, acknowledged_by, assignee, resolved_by, resolved_at,
    resolution_s, note, postponed_until, postponed_by, comments
FROM {db:Identifier}.{queue:Identifier}
WHERE ({states:Array(String)} = [] OR has({states:Array(String)}, state))
  AND ({kinds:Array(String)} = [] OR has({kinds:Array(String)}, kind))
  AND ({stage:String} = '' OR stage = {stage:String})
  AND age_s >= {min_age_s:Int64}
ORDER BY $order
LIMIT {limit:UInt64} OFFSET {offset:UInt64}
