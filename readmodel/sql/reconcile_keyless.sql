-- Whether each rule has hops that lack its match key (reconcile.sql's `keyless`, without judging
-- anything), every rule counted in one read of the hops: one countIf per rule (the array below) over
-- reconcile_keyless_rule.sql, its parameters suffixed with the rule's number (reconcile.py's
-- _shaped); {since} is the earliest of the rules' windows, {keys} and {now} are theirs. When a
-- rule has some, its transactions are judged in the shape that compares them as a whole
-- (reconcile_whole.sql), in one pass.
SELECT [$counts] AS keyless
FROM ${business_hops}
WHERE Timestamp <= {now:DateTime64(9)} AND Timestamp >= {since:DateTime64(9)}
  AND ${hops_of_keys}
