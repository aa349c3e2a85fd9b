"""The collector's configuration: every option has a flag, a ``BIZTRACE_*`` variable and a default."""

from __future__ import annotations

from pydantic import Field, SecretStr

from biztrace.store.options import StoreOptions


class CollectorSettings(StoreOptions):
    """Receive OTLP traces over HTTP and gRPC and write them to the store.

    Acknowledges a request only after its spans are committed; retried requests are
    stored once. Stop with Ctrl-C or SIGTERM: what is queued is written first.
    """

    host: str = Field(
        "127.0.0.1", description="address both receivers listen on (0.0.0.0 for every interface: set a token then)"
    )
    http_port: int = Field(4318, ge=0, le=65535, description="OTLP/HTTP port (POST /v1/traces; GET /healthz, /metrics)")
    grpc_port: int = Field(4317, ge=0, le=65535, description="OTLP/gRPC port")
    token: SecretStr | None = Field(None, description="require 'Authorization: Bearer <token>' on both protocols")
    max_body_bytes: int = Field(
        64 << 20, ge=1024, description="largest request accepted, after decompression (413 above)"
    )
    max_attributes: int = Field(128, ge=1, description="a span with more attributes is rejected (partial success)")
    max_value_length: int = Field(
        16_384, ge=16, description="a span with a longer attribute value or status message is rejected"
    )
    max_name_length: int = Field(
        1_024, ge=16, description="a span with a longer name (span, event, scope, attribute key) is rejected"
    )
    max_events: int = Field(128, ge=0, description="a span with more events is rejected")
    max_links: int = Field(128, ge=0, description="a span with more links is rejected")
    max_span_bytes: int = Field(
        1 << 20, ge=1024, description="a span larger than this, encoded, is rejected (attributes, events, links)"
    )
    max_span_age_days: float = Field(
        366.0, gt=0, description="a span that started longer ago than this is rejected (backfills fit inside)"
    )
    max_span_future_s: float = Field(
        86_400.0, ge=0, description="a span that starts (or ends) further ahead of this clock is rejected"
    )
    max_batch_spans: int = Field(50_000, ge=1, description="the largest batch one write takes")
    min_batch_spans: int = Field(
        5_000, ge=1, description="a free writer starts as soon as this many spans wait (else after the flush interval)"
    )
    flush_interval_ms: int = Field(200, ge=1, description="write a batch when its oldest request waited this long")
    max_queue_spans: int = Field(
        400_000, ge=1, description="refuse requests (429 / UNAVAILABLE) beyond this many waiting spans"
    )
    max_inflight_bytes: int = Field(
        256 << 20,
        ge=1 << 20,
        description="refuse requests (429 / UNAVAILABLE) while both receivers together hold this many "
        "bytes of request bodies (read, queued or being written)",
    )
    grpc_workers: int = Field(
        64,
        ge=1,
        le=1024,
        description="OTLP/gRPC calls served at once; more wait for a worker, up to 4x this many calls "
        "taken in all; beyond, refused at once (RESOURCE_EXHAUSTED)",
    )
    http_idle_timeout_s: float = Field(
        15.0, gt=0, description="close an HTTP connection that sends no complete request head for this long"
    )
    http_read_timeout_s: float = Field(60.0, gt=0, description="answer 408 to a body not received within this long")
    writers: int = Field(2, ge=1, le=16, description="parallel writer threads (each its own store client)")
    write_timeout_s: float = Field(
        30.0, gt=0, description="retry a failed batch this long before failing its requests (503)"
    )
    dedup_window_s: float = Field(
        900.0, gt=0, description="how long a committed request is remembered to drop client retries"
    )
    fault_exit_after_commits: int | None = Field(
        None, ge=1, description="testing only: exit right after the Nth commit, before acknowledging (a crash)"
    )
    protobuf_schema: str | None = Field(
        None,
        description="format_schema path of otlp_trace.proto as the ClickHouse server sees it "
        "(default: the packaged file, right for the embedded store)",
    )
