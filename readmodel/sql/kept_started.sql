-- The transactions of a window read from the alert loop's kept snapshot instead of classified again
-- (snapshots.started_since_sql: the scorecards, the dashboard's snapshot): the rows read are
-- snapshot_aged.sql over that snapshot, none touched (its rows as transactions.sql gives them, brought
-- to {now} as a pass brings the rows no hop touched). Only those a classification since {since} counts
-- (transactions.sql): started since then, with a hop of their first stage. Such a transaction has no hop
-- before {since}, so its row is the one that classification makes; one that has (an early stray hop, its
-- first stage reported later) is left out here, counted there from its later hops.
-- {process}: only that process's ('' every one).
SELECT * REPLACE (CAST(stages_reached AS Array(String)) AS stages_reached)
FROM ($aged)
WHERE started_at >= {since:DateTime64(9)} AND captured AND ({process:String} = '' OR process = {process:String})
