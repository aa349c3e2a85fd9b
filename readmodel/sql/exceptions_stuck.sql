-- Per process, the transactions stuck at {now} and how long ago the oldest one's SLA was breached, in
-- seconds, over a table of exceptions_queue.sql's rows: its detected stuck exceptions (one per
-- transaction, since its SLA breach: exceptions_detected.sql), in whatever state people put them (an
-- acknowledged or postponed transaction is still stuck).
SELECT process, count() AS transactions,
       dateDiff('millisecond', min(since), {now:DateTime64(9)}) / 1000 AS oldest_breach_s
FROM {db:Identifier}.{queue:Identifier}
WHERE kind = 'stuck' AND detected
GROUP BY process
ORDER BY process
