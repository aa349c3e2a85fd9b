-- The spans behind mismatched pairs: every observation of the two stages for these keys.
SELECT
    multiIf({match_column:UInt8} = 1, OrderId, {match_column:UInt8} = 2, CustomerId,
            {match_column:UInt8} = 3, InvoiceId, {match_column:UInt8} = 4, ShipmentId,
            {match_column:UInt8} = 5, ReturnId, '') AS match_key,
    groupArray(SpanId) AS span_ids
FROM {db:Identifier}.biz_hops
WHERE Process = {process:String} AND Stage IN ({left_stage:String}, {right_stage:String})
  AND Timestamp >= {since:DateTime64(9)} AND Timestamp <= {now:DateTime64(9)}
  AND match_key IN {match_keys:Array(String)}
GROUP BY match_key
