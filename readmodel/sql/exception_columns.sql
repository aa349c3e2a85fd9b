-- What a transaction in trouble names as its exception, over a row of transactions.sql (snapshot.sql
-- and the scorecards' snapshot carry them; exceptions_detected.sql reads them): the stage, since when
-- (a stuck one since its SLA was breached, a failed or dead-lettered one since the hop that did it),
-- and the span that shows it (a stuck one's last hop, the failed or dead-lettered hop).
${exception_stage} AS exception_stage,
multiIf(state = 'stuck', due_at, state IN ('failed', 'dead_letter'), trouble_at, NULL) AS exception_since,
if(state = 'stuck', last_span, trouble_span) AS evidence_span
