-- When each exception event was written: the server's clock when the row was written (every insert
-- leaves the column to its default). The alert loop's bookkeeping, built on its previous pass, reads
-- again only the exceptions that pass's and this one's detections disagree on and those a person acted
-- on since that pass (readmodel/sql/exceptions_sync_scope.sql). Events written before this migration
-- are given its time: a pass after the upgrade reads every one they name again, once.
ALTER TABLE ${db}.biztrace_exception_events ${on_cluster}
    ADD COLUMN IF NOT EXISTS Inserted DateTime DEFAULT now() CODEC(Delta(4), ZSTD(1));

ALTER TABLE ${db}.biztrace_exception_events ${on_cluster} MATERIALIZE COLUMN Inserted;
