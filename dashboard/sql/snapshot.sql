-- The dashboard's view of the transactions started in the selected window, computed once per
-- refresh into a Memory table that the page's figures read (the inner query: readmodel/sql/transactions.sql).
SELECT
    process, key, state, current_stage, next_stage, next_system, due_at, started_at, completed_at, last_at,
    priority, channel, hops, stages_reached, stages_reached_at,
    multiIf(state = 'stuck', if(next_system != '', next_system, last_system),
            state IN ('failed', 'dead_letter'), trouble_system, last_system) AS system
FROM ($transactions)
WHERE ({channel:String} = '' OR channel = {channel:String})
  AND ({priority:String} = '' OR priority = {priority:String})
