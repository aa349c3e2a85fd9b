-- One rule's mismatched pairs ({flagged}: reconcile_flagged.sql's rows) appended to a table of
-- exceptions_detected.sql's shape ({detected}), each as reconcile.mismatches makes it a finding:
--   system: the system at fault (Mismatch.system_at_fault): the left system when it never reported
--     its side, otherwise the right one; the rule's pinned system when the pair does not say;
--   evidence, amount, currency: reconcile_mismatches.sql's (joined below), the pair's spans and its
--     transaction's value (currency: the value's, else the compared pair's);
--   detail: a JSON object {rule, field, match_key, left, right, currency}: the two sides' values of the
--     field that disagrees (null for presence, or for a side never reported);
--   priority, channel: the transaction's (read from $values, the classified source of the detection it
--     joins; '' when it holds none: a few keys' detection fills them after), the pair's channel else.
-- The one path by which mismatches join the exception queue: detection per request
-- (exceptions._detected) and the alert loop's bookkeeping (exceptions.sync) both run it.
INSERT INTO {db:Identifier}.{detected:Identifier}
    (process, key, kind, stage, system, since, priority, channel, evidence, detail, amount, currency)
SELECT
    {process:String}, f.key, 'mismatch', {right_stage:String},
    if(f.field = 'presence' AND NOT f.has_left,
       if(f.left_system != '', f.left_system, {left_system:String}),
       if(f.right_system != '', f.right_system, {right_system:String})),
    f.last_at, v.priority, if(v.channel != '', v.channel, f.channel), d.evidence,
    concat('{"rule":', toJSONString({rule:String}), ',"field":', toJSONString(f.field),
           ',"match_key":', toJSONString(f.match_key),
           ',"left":', multiIf(NOT f.has_left, 'null', f.field = 'amount', toJSONString(f.left_amount),
                               f.field = 'quantity', toJSONString(f.left_quantity),
                               f.field = 'status', toJSONString(f.left_status), 'null'),
           ',"right":', multiIf(NOT f.has_right, 'null', f.field = 'amount', toJSONString(f.right_amount),
                                f.field = 'quantity', toJSONString(f.right_quantity),
                                f.field = 'status', toJSONString(f.right_status), 'null'),
           ',"currency":', toJSONString(if(d.currency != '', d.currency, f.currency)), '}'),
    d.amount, if(d.currency != '', d.currency, f.currency)
FROM {db:Identifier}.{flagged:Identifier} AS f
LEFT JOIN ($details) AS d ON d.match_key = f.match_key AND d.key = f.key
LEFT JOIN (SELECT key, priority, channel FROM $values
           WHERE process = {process:String} AND key IN (SELECT key FROM {db:Identifier}.{flagged:Identifier})) AS v
    ON v.key = f.key
