-- A JSON-lines export of the exception queue (exports_exceptions.sql's rows): one object a
-- row with the fields of exceptions.ExceptionItem, in its order, streamed by ClickHouse (format
-- JSONEachRow). Times are ISO 8601 strings (UTC, microseconds), the detail an object (a key whose
-- value is null is left out, the keys sorted), the comments objects {at, by, text}.
WITH t -> formatDateTime(t, '%Y-%m-%dT%H:%i:%S.%f') AS iso
SELECT process, key, kind, stage, system, iso(since) AS since, age_s, evidence,
    CAST(if(detail = '', '{}', detail) AS JSON) AS detail, priority, channel, value AS amount,
    value_currency AS currency, detected, state, iso(opened_at) AS opened_at, acknowledged_by, assignee,
    resolved_by, iso(resolved_at) AS resolved_at, resolution_s, note, iso(postponed_until) AS postponed_until,
    postponed_by,
    arrayMap(c -> CAST((iso(c.1), c.2, c.3), 'Tuple(at String, by String, text String)'), comments) AS comments,
    runbook
FROM ($rows)
-- the detail's strings stay as they are (a time in it is not made a DateTime64)
SETTINGS input_format_try_infer_datetimes = 0, input_format_try_infer_dates = 0
