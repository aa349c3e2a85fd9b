-- Of one rule's hops in its window (reconcile_rule_hop.sql), one that lacks the rule's match key
-- (reconcile_keyless.sql counts them): its own match key is empty while its transaction key is not
-- (reconcile.sql's pair of those hops falls in the window its latest hop does).
NOT {by_key:Bool} AND {match_col:Identifier} = '' AND BizKey != ''
