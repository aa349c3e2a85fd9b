-- reconcile.sql's `in_whole` in the shape that compares transactions as a whole: a hop's transaction
-- is compared as a whole when the rule says so ({whole_always}), or when it has a hop of either stage
-- that lacks the match key. (The first pass's shape has `false` here: one read of the hops less to plan.)
keyed AND ({whole_always:Bool} OR {whole:Bool} AND key IN (
    SELECT BizKey FROM ${business_hops}
    WHERE {whole:Bool} AND BizProcess = {process:String}
      AND {match_col:Identifier} = ''
      AND ((Stage = {left_stage:String} AND ({left_system:String} = '' OR System = {left_system:String}))
           OR (Stage = {right_stage:String} AND ({right_system:String} = '' OR System = {right_system:String})))
      AND went_through AND Timestamp <= {now:DateTime64(9)}
      AND Timestamp >= {since:DateTime64(9)} - toIntervalSecond({lookback_s:UInt32})
      AND ({keys:Array(String)} = [] OR ${keys_hop})
))
