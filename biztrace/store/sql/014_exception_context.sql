-- The system at fault, priority and channel of an exception when the alert loop opened or reopened it
-- (exceptions_sync.sql), so that one resolved and no longer detected keeps them: the queue's filters
-- (system, channel, priority) and its counts and time to resolve under them (exceptions_queue.sql)
-- count it where it was. Events recorded before this migration, and people's actions, leave them empty.
ALTER TABLE ${db}.biztrace_exception_events ${on_cluster}
    ADD COLUMN IF NOT EXISTS System LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS Priority LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS Channel LowCardinality(String) DEFAULT '';
