-- One rule's mismatched pairs (reconcile.sql, in the shape reconcile.py chose) appended to a table of
-- exceptions_detected.sql's shape ({detected}): what the alert loop's bookkeeping compares with the
-- stored lifecycle (process, key, kind, stage, since), and the system at fault (Mismatch.system_at_fault:
-- the left system when it never reported its side, otherwise the right one; the rule's pinned system
-- when the pair does not say). Evidence and the transaction's value are not read: the bookkeeping needs
-- neither (the exception list reads them, reconcile.mismatches). {keys}: only these transactions.
INSERT INTO {db:Identifier}.{detected:Identifier}
    (process, key, kind, stage, system, since, priority, channel, evidence, detail, amount, currency)
SELECT
    {process:String}, key, 'mismatch', {right_stage:String},
    if(field = 'presence' AND NOT has_left,
       if(left_system != '', left_system, {left_system:String}),
       if(right_system != '', right_system, {right_system:String})),
    last_at, '', channel, [], toJSONString(CAST(tuple(field, match_key), 'Tuple(field String, match_key String)')),
    NULL, currency
FROM ($pairs)
WHERE mismatched AND ({keys:Array(String)} = [] OR has({keys:Array(String)}, key))
