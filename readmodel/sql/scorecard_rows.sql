-- The scorecards of the chosen scopes (scorecard_scopes.sql: the {limit} with the most transactions in the
-- period), one row each in that order, shaped as scorecards.py's Scorecard: its name, the figures of the
-- period (`current`), of the one before (`previous`) and the difference (`trend`). Named tuples and maps, which JSONEachRow writes as the model's objects: the
-- scorecards are read as one JSON document and validated once, not assembled row by row in Python.
--   {snapshot:Identifier}  scorecard_snapshot.sql (scope, period and the transactions' columns)
--   {queue:Identifier}     the exception queue's table (exceptions_queue.sql, every state)
--   the scopes, the stages, the end to end: scorecard_scopes.sql, scorecard_stages.sql over the chosen
--                          scopes' transactions, sla_adherence.sql (figures.py's definition) grouped by
--                          `stage` = (scope, period): scorecards.py fills them in
-- A scope without a transaction in a period has that period's figures at their defaults (0, none, empty).
WITH
top AS (
    SELECT scope, row_number() OVER (ORDER BY transactions DESC, scope) AS position FROM ($scopes)
),
chosen AS (
    SELECT * FROM {db:Identifier}.{snapshot:Identifier} WHERE scope IN (SELECT scope FROM top)
),
-- the transactions started, by their state at {now}
states AS (
    SELECT scope, period, count() AS transactions, countIf(state = 'complete') AS complete,
        countIf(state = 'in_flight') AS in_flight, countIf(state = 'stuck') AS stuck,
        countIf(state = 'failed') AS failed, countIf(state = 'dead_letter') AS dead_letter
    FROM chosen
    GROUP BY scope, period
),
-- the stage SLAs, each stage (in process and stage order), and every stage together: the sums of theirs
stages AS (
    SELECT scope, period, toUInt64(sum(met)) AS stage_met, toUInt64(sum(measured)) AS stage_measured,
        arraySort(groupArray(tuple(process, stage, met, measured, if(measured > 0, met / measured, NULL),
                                   if(isNaN(p50_s), NULL, p50_s), if(isNaN(p90_s), NULL, p90_s)))) AS by_stage
    FROM ($stages)
    GROUP BY scope, period
),
end_to_end AS (
    SELECT stage.1 AS scope, stage.2 AS period, met, missed, pending, measured, adherence
    FROM ($end_to_end)
),
-- the transactions with at least one exception in the queue, each with its exceptions: their kinds and, a
-- mismatch's, the field that disagrees ('(whole)': a mismatch of no one field)
troubled AS (
    SELECT s.scope AS scope, s.period AS period, s.currency AS currency, s.amount AS amount,
        q.kinds AS kinds, q.fields AS fields
    FROM (
        SELECT process, key, groupArray(kind) AS kinds,
            groupArrayIf(if(JSONExtractString(detail, 'field') = '', '(whole)', JSONExtractString(detail, 'field')),
                         kind = 'mismatch') AS fields
        FROM {db:Identifier}.{queue:Identifier}
        GROUP BY process, key
    ) AS q
    INNER JOIN chosen AS s ON s.process = q.process AND s.key = q.key
),
-- per scope and period: the exceptions by kind, the mismatches by field, and the money affected: the
-- value (transactions.sql's amount) of these transactions per currency ('' none), those without an
-- amount counted apart
by_currency AS (
    SELECT scope, period, currency, toFloat64(sum(ifNull(amount, 0))) AS value, count() AS transactions,
        countIf(amount IS NULL) AS without_amount,
        sumMap(kinds, arrayMap(k -> toUInt64(1), kinds)) AS kind_counts,
        sumMap(fields, arrayMap(f -> toUInt64(1), fields)) AS field_counts
    FROM troubled
    GROUP BY scope, period, currency
),
exceptions AS (
    SELECT scope, period,
        sumMap(mapFromArrays(kind_counts.1, kind_counts.2)) AS by_kind,
        sumMap(mapFromArrays(field_counts.1, field_counts.2)) AS by_field,
        mapFromArrays(groupArrayIf(currency, transactions > without_amount),
                      groupArrayIf(value, transactions > without_amount)) AS money_affected,
        toUInt64(sum(transactions)) AS affected, toUInt64(sum(without_amount)) AS affected_without_amount
    FROM by_currency
    GROUP BY scope, period
),
periods AS (
    SELECT st.scope AS scope, st.period AS period,
        CAST(tuple(st.transactions, st.complete, st.in_flight, st.stuck, st.failed, st.dead_letter,
                   tuple(e.met, e.missed, e.pending, e.measured, e.adherence),
                   sg.stage_met, sg.stage_measured, if(sg.stage_measured > 0, sg.stage_met / sg.stage_measured, NULL),
                   sg.by_stage, x.by_kind, x.by_field, x.money_affected, x.affected, x.affected_without_amount),
             'Tuple(transactions UInt64, complete UInt64, in_flight UInt64, stuck UInt64, failed UInt64,
                    dead_letter UInt64,
                    end_to_end Tuple(met UInt64, missed UInt64, pending UInt64, measured UInt64,
                                     adherence Nullable(Float64)),
                    stage_met UInt64, stage_measured UInt64, stage_adherence Nullable(Float64),
                    stages Array(Tuple(process String, stage String, met UInt64, measured UInt64,
                                       adherence Nullable(Float64), p50_s Nullable(Float64), p90_s Nullable(Float64))),
                    exceptions Map(String, UInt64), mismatches Map(String, UInt64),
                    money_affected Map(String, Float64), affected UInt64, affected_without_amount UInt64)')
            AS figures
    FROM states AS st
    LEFT JOIN stages AS sg ON sg.scope = st.scope AND sg.period = st.period
    LEFT JOIN end_to_end AS e ON e.scope = st.scope AND e.period = st.period
    LEFT JOIN exceptions AS x ON x.scope = st.scope AND x.period = st.period
),
scorecards AS (
    SELECT scope, anyIf(figures, period = 'current') AS current, anyIf(figures, period = 'previous') AS previous
    FROM periods
    GROUP BY scope
)
SELECT c.scope AS name, current, previous,
    CAST(tuple(toInt64(current.transactions) - toInt64(previous.transactions),
               current.end_to_end.adherence - previous.end_to_end.adherence,
               current.stage_adherence - previous.stage_adherence,
               toInt64(arraySum(mapValues(current.exceptions))) - toInt64(arraySum(mapValues(previous.exceptions))),
               mapSubtract(current.money_affected, previous.money_affected)),
         'Tuple(transactions Int64, end_to_end Nullable(Float64), stage_sla Nullable(Float64), exceptions Int64,
                money_affected Map(String, Float64))') AS trend
FROM scorecards AS c
INNER JOIN top AS o ON o.scope = c.scope
ORDER BY o.position
SETTINGS join_use_nulls = 0
