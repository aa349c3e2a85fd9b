-- A hop one rule reads in [{since}, {now}] (reconcile_keyless.sql counts them): of its transaction's
-- process, of either side's stage (and system, where pinned), that went through (not in error, not
-- dead-lettered). A rule with none has no
-- pair in the window (reconcile.sql reports a pair in the window its first observation falls in, and
-- a left side looked up before {since} is never that first observation of a reported pair), so it is
-- not judged at all.
BizProcess = {process:String} AND went_through
  AND Stage IN ({left_stage:String}, {right_stage:String})
  AND ((Stage = {left_stage:String} AND ({left_system:String} = '' OR System = {left_system:String}))
       OR (Stage = {right_stage:String} AND ({right_system:String} = '' OR System = {right_system:String})))
  AND Timestamp >= {since:DateTime64(9)}
