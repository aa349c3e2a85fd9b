-- The exceptions detected: one row per (process, key, kind) of {detected:Identifier}, which holds
-- exceptions_detected.sql's rows and the mismatches. A problem detected twice (two duplicated
-- events of one order) is one exception, since its earliest start, with the evidence of both.
-- exceptions_queue.sql applies the lifecycle to these rows.
-- The earliest detection's fields; two at one instant (two rules' mismatches of one order) ordered by
-- their detail, stage and system, so every reader picks the same one
SELECT process, key, kind, min(d.since) AS since, argMin(stage, d.first) AS stage,
    argMin(system, d.first) AS system, argMin(priority, d.first) AS priority, argMin(channel, d.first) AS channel,
    arrayDistinct(arrayFlatten(arrayMap(x -> x.2, arraySort(groupArray((d.since, evidence)))))) AS evidence,
    argMin(detail, d.first) AS detail,
    -- the transaction's value, whichever of its exceptions carries it
    max(max(d.amount)) OVER (PARTITION BY process, key) AS amount,
    max(maxIf(d.currency, d.currency != '')) OVER (PARTITION BY process, key) AS currency
FROM (SELECT *, (since, detail, stage, system, priority, channel) AS first
      FROM {db:Identifier}.{detected:Identifier}) AS d
GROUP BY process, key, kind
