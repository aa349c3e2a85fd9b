-- One rule's hops that lack its match key (reconcile_keyless.sql counts them): a hop of its
-- transaction's process, of either side's stage (and system, where pinned), not in error, in
-- [{since}, {now}], whose own match key is empty while its transaction key is not (reconcile.sql's
-- pair of those hops falls in the window its latest hop does).
NOT {by_key:Bool} AND {match_col:Identifier} = '' AND BizKey != ''
  AND BizProcess = {process:String} AND StatusCode != 'Error'
  AND Stage IN ({left_stage:String}, {right_stage:String})
  AND ((Stage = {left_stage:String} AND ({left_system:String} = '' OR System = {left_system:String}))
       OR (Stage = {right_stage:String} AND ({right_system:String} = '' OR System = {right_system:String})))
  AND Timestamp >= {since:DateTime64(9)}
