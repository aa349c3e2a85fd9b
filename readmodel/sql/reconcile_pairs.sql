-- One rule's pairs (reconcile.sql, in the shape reconcile.py chose), every one, with what the parity report
-- and a finding read of it (reconcile.py's PAIRS): the alert loop keeps them from one pass to the next, and a
-- report asked at the pass's time reads them (reconcile.py's _kept_report). {keys}: only these transactions',
-- and the pairs no transaction owns yet (key '') by their match key, as reconcile_flagged.sql. The hops that
-- lack the match key in the shape that pairs by it (match_key '') are no pair.
SELECT {rule:String} AS rule, $columns
FROM ($pairs)
WHERE match_key != '' AND ({keys:Array(String)} = [] OR has({keys:Array(String)}, if(key != '', key, match_key)))
