-- One rule's pairs (reconcile.sql) summed per period and channel: counts,
-- totals, quantities, mismatches and the share of right sides within SLA. $flagged: when judging for
-- the mismatch list, the mismatched pairs (of {keys} when given) with what a finding says of them
-- (reconcile.py's FLAGGED), so the list needs no second pass over the pairs; otherwise nothing.
-- $by: '' (one rule's pairs), or the rules' numbers ('rule_n,': several rules' pairs at once, reconcile.py's
-- _kept_report).
SELECT $by
    toDateTime($bucket(observed_at)) AS period,
    channel,
    countIf(match_key != '') AS pairs,
    countIf(has_left) AS left_count,
    countIf(has_right) AS right_count,
    sumIf(ifNull(left_amount, 0), has_left) AS left_total,
    sumIf(ifNull(right_amount, 0), has_right) AS right_total,
    sumIf(ifNull(left_quantity, 0), has_left) AS left_quantity,
    sumIf(ifNull(right_quantity, 0), has_right) AS right_quantity,
    countIf(mismatched) AS mismatched_pairs,
    if(countIf(has_left) > 0, countIf(right_within_sla) / countIf(has_left), NULL) AS within_sla,
    $flagged AS flagged
FROM ($pairs) AS pair
WHERE {channel_filter:String} = '' OR channel = {channel_filter:String} OR match_key = ''
GROUP BY $by period, channel
ORDER BY $by period, channel
