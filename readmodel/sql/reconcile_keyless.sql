-- Per rule, in one read of the hops (reconcile.py's _shaped): how many hops it reads in its window
-- (`seen`: one countIf per rule over reconcile_rule_hop.sql; a rule with none is not judged) and how
-- many of them lack its match key (`keyless`: reconcile_keyless_rule.sql as well; 0 for a rule that
-- always compares transactions as a whole), each rule's parameters suffixed with its number; {since}
-- is the earliest of the rules' windows, {keys} and {now} are theirs. When a rule has keyless hops,
-- its transactions are judged in the shape that compares them as a whole (reconcile_whole.sql), in
-- one pass.
SELECT [$seen] AS seen, [$keyless] AS keyless
FROM ${business_hops}
WHERE Timestamp <= {now:DateTime64(9)} AND Timestamp >= {since:DateTime64(9)}
  AND ${hops_of_keys}
