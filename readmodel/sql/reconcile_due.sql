-- The transactions of one reconciliation rule whose side ({stage}: its left or its right stage) saw its
-- grace end in ({after}, {now}]: a side seen without the other is a presence mismatch from then on
-- (reconcile.sql's presence_differs), though no hop arrived. Any hop of the side whose grace ended then
-- counts (the pair's earliest one is among them when it matters).
-- A side no transaction owns yet (key '') is named by its match key, as reconcile_flagged.sql does.
SELECT DISTINCT if(BizKey != '', BizKey, {match_col:Identifier}) AS key
FROM ${business_hops}
WHERE BizProcess = {process:String} AND Stage = {stage:String} AND key != ''
  AND Timestamp + toIntervalSecond({grace_s:UInt32}) > {after:DateTime64(9)}
  AND Timestamp + toIntervalSecond({grace_s:UInt32}) <= {now:DateTime64(9)}
