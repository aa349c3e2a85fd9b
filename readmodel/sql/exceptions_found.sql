-- The exceptions detected: one row per (process, key, kind) of {detected:Identifier}, which holds
-- exceptions_detected.sql's rows and the mismatches. A problem detected twice (two duplicated
-- events of one order) is one exception, since its earliest start, with the evidence of both.
-- exceptions_queue.sql applies the lifecycle to these rows.
-- The earliest detection's fields; two at one instant (two rules' mismatches of one order) ordered by
-- their detail, stage and system, so every reader picks the same one: the least of the detections'
-- (since, detail, stage, system, priority, channel), one aggregate (an argMin per field took twice as long)
SELECT process, key, kind, earliest.1 AS since, earliest.3 AS stage, earliest.4 AS system,
    earliest.5 AS priority, earliest.6 AS channel, evidence, earliest.2 AS detail, amount, currency
FROM (
    SELECT process, key, kind, min((d.since, d.detail, d.stage, d.system, d.priority, d.channel)) AS earliest,
        arrayDistinct(arrayFlatten(arrayMap(x -> x.2, arraySort(groupArray((d.since, d.evidence)))))) AS evidence,
        -- the transaction's value, whichever of its exceptions carries it
        max(max(d.amount)) OVER (PARTITION BY process, key) AS amount,
        max(maxIf(d.currency, d.currency != '')) OVER (PARTITION BY process, key) AS currency
    FROM {db:Identifier}.{detected:Identifier} AS d
    GROUP BY process, key, kind
)
