-- The stage an exception names (a row of transactions.sql): a stuck transaction's current stage (where
-- it waits), a failed or dead-lettered one's stage of the hop that did it. One definition for the alert
-- pass's snapshot (snapshot.sql) and the dashboard's (dashboard/sql/snapshot.sql).
if(state = 'stuck' OR trouble_stage = '', current_stage, trouble_stage)
