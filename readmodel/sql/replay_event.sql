-- The business event id (biz.event_id) of an exception's evidence spans, when one carried it:
-- what a middleware's resubmit endpoint usually wants. {spans}: the exception's evidence.
SELECT EventId
FROM {db:Identifier}.biz_hops
WHERE SpanId IN {spans:Array(String)} AND EventId != ''
ORDER BY Timestamp DESC
LIMIT 1
