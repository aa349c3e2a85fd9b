-- The exceptions detected: one row per (process, key, kind) of {detected:Identifier}, which holds
-- exceptions_detected.sql's rows and the mismatches. A problem detected twice (two duplicated
-- events of one order) is one exception, since its earliest start, with the evidence of both.
-- exceptions_queue.sql applies the lifecycle to these rows.
-- Most exceptions are detected once (all 243k of a steady pass at 1M transactions): such a row is the
-- exception as it is, its evidence made distinct, and only those detected more than once are aggregated
-- (the arrays of every group cost ~0.2 s there; finding the repeated ones, ~0.03 s).
WITH repeated AS (
    SELECT process, key, kind FROM {db:Identifier}.{detected:Identifier} GROUP BY process, key, kind HAVING count() > 1
)
SELECT process, key, kind, since, stage, system, priority, channel, arrayDistinct(evidence) AS evidence, detail,
    amount, currency
FROM {db:Identifier}.{detected:Identifier}
WHERE (process, key, kind) NOT IN (SELECT process, key, kind FROM repeated)
UNION ALL
-- The earliest detection's fields; two at one instant (two rules' mismatches of one order) ordered by
-- their detail, stage and system, so every reader picks the same one: the least of the detections'
-- (since, detail, stage, system, priority, channel), one aggregate (an argMin per field took twice as long)
SELECT process, key, kind, earliest.1 AS since, earliest.3 AS stage, earliest.4 AS system,
    earliest.5 AS priority, earliest.6 AS channel, evidence, earliest.2 AS detail, amount, currency
FROM (
    SELECT process, key, kind, min((d.since, d.detail, d.stage, d.system, d.priority, d.channel)) AS earliest,
        arrayDistinct(arrayFlatten(arrayMap(x -> x.2, arraySort(groupArray((d.since, d.evidence)))))) AS evidence,
        -- the transaction's value: every detection of the loop and of a window reads it from the classified
        -- transactions (a few keys' detection leaves duplicates' and mismatches' unread: exceptions.py's
        -- _with_values fills what it lists), so it is not spread over the key's exceptions (a window over
        -- (process, key) cost 0.15 s of a steady pass's 0.33 s here)
        max(d.amount) AS amount,
        maxIf(d.currency, d.currency != '') AS currency
    FROM {db:Identifier}.{detected:Identifier} AS d
    WHERE (process, key, kind) IN (SELECT process, key, kind FROM repeated)
    GROUP BY process, key, kind
)
