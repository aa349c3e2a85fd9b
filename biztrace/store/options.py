"""Options every command shares: where the store is and how its schema is laid out."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from biztrace.store import DEFAULT_STORE


class StoreOptions(BaseSettings):
    """The store DSN and schema layout; read from flags, ``BIZTRACE_*`` variables, defaults."""

    model_config = SettingsConfigDict(
        env_prefix="BIZTRACE_",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_hide_none_type=True,
        extra="ignore",
    )

    store: str = Field(
        DEFAULT_STORE,
        description="where spans live: chdb:///abs/dir or chdb:rel/dir (embedded ClickHouse), "
        "or http(s)://user:pass@host:8123/db (a ClickHouse server)",
    )
    cluster: str | None = Field(None, description="ClickHouse cluster: schema statements run ON CLUSTER")
    replicated: bool = Field(False, description="create Replicated*MergeTree tables (cluster deployments)")
    ttl_days: int = Field(0, ge=0, description="retention of spans and hops in days (0: keep forever)")
    distributed: bool = Field(
        False,
        description="shard spans over --cluster: *_local replicated tables and Distributed tables "
        "under the usual names (implies --replicated)",
    )

    def schema_options(self):
        from biztrace.store.schema import SchemaOptions

        return SchemaOptions(
            cluster=self.cluster, replicated=self.replicated, ttl_days=self.ttl_days, distributed=self.distributed
        )
