-- The values the sidebar offers: channels, systems and priorities seen in the last 7 days.
SELECT groupUniqArrayIf(Channel, Channel != '') AS channels, groupUniqArray(System) AS systems,
       groupUniqArray(Priority) AS priorities
FROM {db:Identifier}.biz_hops
WHERE Timestamp >= now() - INTERVAL 7 DAY
