-- An active alert's figures as each pass finds them, not only at its transitions: the loop appends a row
-- marked Updated when an alert stays in its state but its value, its sample, the transactions recorded
-- with it or its value at risk changed. Readers take the figures from the latest row and the state's
-- start from the latest transition (a row not Updated); the history lists the transitions only. Rows
-- written before this migration are transitions.
ALTER TABLE ${db}.biztrace_alert_events ${on_cluster}
    ADD COLUMN IF NOT EXISTS Updated Bool DEFAULT false;
