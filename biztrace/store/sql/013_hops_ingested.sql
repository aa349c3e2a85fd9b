-- When each hop was stored: the server's clock when the row was written (the view and every
-- direct insert leave the column to its default). The alert loop's incremental pass reads only
-- the transactions whose hops were stored since its last pass (readmodel/snapshots.py).
-- Hops stored before this migration are given its time, so a pass after the upgrade treats them
-- as new once and then as settled.
ALTER TABLE ${db}.biz_hops ${on_cluster}
    ADD COLUMN IF NOT EXISTS Ingested DateTime DEFAULT now() CODEC(Delta(4), ZSTD(1));

ALTER TABLE ${db}.biz_hops ${on_cluster} MATERIALIZE COLUMN Ingested;
