-- End-to-end SLA adherence at {now} over the transactions started in [{window_start}, {now}] of
-- the processes with an end_to_end SLA, per $group (figures.py documents the definition).
-- the snapshot (`snapshot`): a table or subquery shaped like snapshot.sql (process, key, state, started_at,
-- completed_at and the label columns). Each transaction's outcome:
--   met      completed within its process's end-to-end SLA (completed_at - started_at <= SLA)
--   missed   completed later than that; or stuck (a stage is overdue against its SLA now); or not
--            complete and past its end-to-end deadline (started_at + SLA < now), whatever its state
--   pending  any other unfinished transaction (in flight, failed or dead-lettered within its
--            deadline): its outcome is not known yet, and it is not counted
-- adherence = met / (met + missed); NULL when nothing was measured.
SELECT $group,
    countIf(outcome = 'met') AS met,
    countIf(outcome = 'missed') AS missed,
    countIf(outcome = 'pending') AS pending,
    met + missed AS measured,
    if(measured > 0, met / measured, NULL) AS adherence,
    groupArraySortedIf(50)(key, outcome = 'missed') AS missed_keys  -- the first 50 in key order: the same every time
FROM (
    SELECT *,
        toInt64(transform(process, {e2e_processes:Array(String)}, {e2e_s:Array(Float64)}, toFloat64(0)) * 1000)
            AS e2e_ms,
        -- the clock: the end-to-end SLA's business calendar (calendars.py; 0: 24x7) counts working time only
        transform(process, {e2e_processes:Array(String)}, {e2e_calendar:Array(UInt16)}, toUInt16(0)) AS e2e_clock,
        {now:DateTime64(9)} AS e2e_now,
        if(e2e_clock = 0, 0, ${business_start_ms:e2e_clock,started_at}) AS e2e_from_ms,
        multiIf(completed_at IS NOT NULL,
                    if(if(e2e_clock = 0, dateDiff('millisecond', started_at, assumeNotNull(completed_at)),
                          ${business_ms:e2e_clock,assumeNotNull(completed_at)} - e2e_from_ms) <= e2e_ms,
                       'met', 'missed'),
                state = 'stuck', 'missed',
                if(e2e_clock = 0, started_at + toIntervalMillisecond(e2e_ms) < {now:DateTime64(9)},
                   ${business_ms:e2e_clock,e2e_now} - e2e_from_ms > e2e_ms), 'missed',
                'pending') AS outcome
    FROM $snapshot
    WHERE has({e2e_processes:Array(String)}, process)
      AND started_at >= {window_start:DateTime64(9)} AND started_at <= {now:DateTime64(9)}
)
WHERE $filters
GROUP BY $group
ORDER BY $group
