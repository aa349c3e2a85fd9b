-- The collector's write-ahead record of each batch: which requests it holds and one sample
-- span per request and day. After a crash, samples found in otel_traces prove a request was
-- committed, so a client's retry of it is acknowledged without storing it twice.
CREATE TABLE IF NOT EXISTS ${db}.biztrace_ingest_ledger ${on_cluster} (
    WrittenAt DateTime64(3) CODEC(Delta(8), ZSTD(1)),
    BatchId String CODEC(ZSTD(1)),
    Fingerprint String CODEC(ZSTD(1)),
    Day Date,
    SampleTraceId String CODEC(ZSTD(1)),
    SampleSpanId String CODEC(ZSTD(1)),
    SampleTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1))
) ENGINE = ${merge_tree}
ORDER BY (WrittenAt, Fingerprint)
TTL toDateTime(WrittenAt) + toIntervalDay(2)
SETTINGS index_granularity = 8192;
