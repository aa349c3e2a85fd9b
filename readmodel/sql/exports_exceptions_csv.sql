-- A CSV export of the exception queue (exports_exceptions.sql's rows), one line a row,
-- streamed by ClickHouse (format CSV; the header is exports.EXCEPTION_CSV_COLUMNS, the same order).
-- Times are ISO 8601 (UTC, microseconds), a missing time or amount is empty, the evidence is its
-- span ids separated by spaces, the detail its JSON text.
WITH t -> formatDateTime(t, '%Y-%m-%dT%H:%i:%S.%f') AS iso
SELECT process, key, kind, stage, system, state, iso(since) AS since, age_s, priority, channel,
    iso(opened_at) AS opened_at, acknowledged_by, assignee, resolved_by, ifNull(iso(resolved_at), '') AS resolved_at,
    ifNull(toString(resolution_s), '') AS resolution_s, note, ifNull(iso(postponed_until), '') AS postponed_until,
    runbook, ifNull(toString(value), '') AS amount, value_currency AS currency, detected,
    arrayStringConcat(evidence, ' ') AS evidence, if(detail = '', '{}', detail) AS detail, postponed_by,
    length(comments) AS comments
FROM ($rows)
