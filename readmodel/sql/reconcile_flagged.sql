-- One rule's mismatched pairs (reconcile.sql, in the shape reconcile.py chose), with what the judging
-- pass keeps of each (reconcile.FLAGGED, as reconcile_parity.sql's `flagged`): kept in a table that
-- reconcile_detected.sql reads. {keys}: only these transactions, and the pairs no transaction owns yet
-- (key '': an invoice whose shipment is not linked to an order) by their match key.
SELECT key, match_key, field, left_amount, right_amount, left_quantity, right_quantity, left_status, right_status,
       left_system, right_system, currency, channel, last_at, has_left, has_right
FROM ($pairs)
WHERE mismatched AND ({keys:Array(String)} = [] OR has({keys:Array(String)}, if(key != '', key, match_key)))
