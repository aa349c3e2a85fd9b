-- Replays asked of the middleware (biztrace_replays), one row per request id, each followed up
-- at {now}: the first hop of its transaction after the request that reached the stage the
-- exception was waiting for, or a later one, without failing (a milestone, not in error, not
-- dead-lettered), and whether that came within the stage's SLA counted from the request.
--   outcome   accepted | refused | timed_out | failed (from the outcome row) | pending (none yet)
--   followup  only for an accepted replay:
--             moved_on       the transaction reached the awaited stage (or a later one) within its SLA
--             moved_on_late  it did, after the SLA
--             still_stuck    it did not, and the SLA since the request has passed
--             waiting        it did not yet, and the SLA has not passed (or the stage has none)
-- The SLA is the awaited stage's (its per-priority override for the transaction's priority),
-- from the configuration at query time like every SLA. {process}, {key}, {kind}, {request_id}:
-- only those ('' any); {keys}: the keys of the replays asked for (their hops are read).
WITH
requests AS (
    SELECT RequestId AS request_id,
        toDateTime64(minIf(At, Event = 'requested'), 9) AS requested_at,
        anyIf(Process, Event = 'requested') AS process,
        anyIf(Key, Event = 'requested') AS key,
        anyIf(Kind, Event = 'requested') AS kind,
        anyIf(Stage, Event = 'requested') AS stage,
        anyIf(AwaitedStage, Event = 'requested') AS awaited_stage,
        anyIf(System, Event = 'requested') AS system,
        anyIf(Target, Event = 'requested') AS target,
        anyIf(Method, Event = 'requested') AS method,
        anyIf(Url, Event = 'requested') AS url,
        anyIf(Actor, Event = 'requested') AS actor,
        anyIf(Roles, Event = 'requested') AS roles,
        if(countIf(Event = 'outcome') > 0, argMaxIf(Outcome, At, Event = 'outcome'), 'pending') AS outcome,
        argMaxIf(HttpStatus, At, Event = 'outcome') AS http_status,
        argMaxIf(Detail, At, Event = 'outcome') AS detail,
        argMaxIf(ElapsedMs, At, Event = 'outcome') AS elapsed_ms,
        maxIfOrNull(At, Event = 'outcome') AS finished_at,
        -- the awaited stage's index in its process (0: unknown, any stage counts)
        transform(cityHash64(process, awaited_stage), arrayMap(x -> cityHash64(x.1, x.2),
                  {stage_pairs:Array(Tuple(String, String))}), {stage_pair_index:Array(UInt16)}, toUInt16(0))
            AS awaited_index
    FROM {db:Identifier}.biztrace_replays
    WHERE ({process:String} = '' OR Process = {process:String})
      AND ({key:String} = '' OR Key = {key:String})
      AND ({kind:String} = '' OR Kind = {kind:String})
      AND ({request_id:String} = '' OR RequestId = {request_id:String})
    GROUP BY RequestId
    HAVING countIf(Event = 'requested') > 0
),
hops AS (
    SELECT BizProcess AS hop_process, BizKey AS hop_key, Timestamp AS hop_at, Stage AS hop_stage,
        transform(cityHash64(BizProcess, Stage), arrayMap(x -> cityHash64(x.1, x.2), {stage_pairs:Array(Tuple(String, String))}),
                  {stage_pair_index:Array(UInt16)}, toUInt16(0)) AS hop_index,
        hop_index > 0 AND went_through AS progress,
        Priority AS hop_priority
    FROM ${business_hops}
    WHERE ${hops_of_keys} AND Timestamp <= {now:DateTime64(9)}
),
followed AS (
    SELECT r.request_id AS request_id,
        minIfOrNull(h.hop_at, h.progress AND h.hop_at > r.requested_at AND h.hop_index >= r.awaited_index) AS moved_on_at,
        argMinIf(h.hop_stage, h.hop_at, h.progress AND h.hop_at > r.requested_at AND h.hop_index >= r.awaited_index)
            AS moved_on_stage,
        if(anyIf(h.hop_priority, h.hop_stage != '') != '', anyIf(h.hop_priority, h.hop_stage != ''), 'normal')
            AS priority
    FROM requests AS r
    LEFT JOIN hops AS h ON h.hop_process = r.process AND h.hop_key = r.key
    GROUP BY r.request_id
)
SELECT r.*, f.moved_on_at AS moved_on_at, if(f.moved_on_at IS NULL, '', f.moved_on_stage) AS moved_on_stage,
    transform(cityHash64(r.process, r.awaited_stage, f.priority),
              arrayMap(x -> cityHash64(x.1, x.2, x.3), {sla_keys:Array(Tuple(String, String, String))}), {sla_s:Array(Float64)},
        transform(cityHash64(r.process, r.awaited_stage, ''),
                  arrayMap(x -> cityHash64(x.1, x.2, x.3), {sla_keys:Array(Tuple(String, String, String))}),
                  {sla_s:Array(Float64)}, toFloat64(0))) AS sla_s,
    if(sla_s > 0, r.requested_at + toIntervalMillisecond(toInt64(sla_s * 1000)), NULL) AS due_at,
    multiIf(r.outcome != 'accepted', '',
            f.moved_on_at IS NOT NULL AND (due_at IS NULL OR f.moved_on_at <= due_at), 'moved_on',
            f.moved_on_at IS NOT NULL, 'moved_on_late',
            ${overdue}, 'still_stuck',
            'waiting') AS followup
FROM requests AS r
LEFT JOIN followed AS f ON f.request_id = r.request_id
ORDER BY r.requested_at DESC, r.request_id
LIMIT {limit:UInt32}
