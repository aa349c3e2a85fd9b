"""Start the HTTP API inside a long-running process (``up``, ``collect``, ``dashboard``)."""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from biztrace.api import tokens
from biztrace.api.app import build_app
from biztrace.api.server import ApiServer
from biztrace.cli import remote
from biztrace.config import AlertsConfig
from biztrace.store import Store

logger = logging.getLogger(__name__)


class ApiOptions(BaseSettings):
    """Where a long-running process serves the API (``--api-port`` / ``BIZTRACE_API_PORT``)."""

    model_config = SettingsConfigDict(env_prefix="BIZTRACE_", cli_kebab_case=True, extra="ignore")

    api_host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    api_port: int = Field(8502, ge=0, le=65535, description="port of the HTTP API (0: any free port)")


class ServedApi:
    """The API of this process and, on an embedded store, the owner's credential it published."""

    def __init__(self, server: ApiServer, store: Store, token_id: str | None) -> None:
        self.server = server
        self.store = store
        self.token_id = token_id

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        """Stop serving; withdraw and revoke the owner's credential."""
        self.server.stop()
        if self.token_id and self.store.address.path is not None:
            remote.withdraw(self.store.address.path)
            try:
                tokens.revoke(self.store, self.token_id, "biztrace", datetime.now(UTC))
            except Exception:  # the store may be closing; the token dies with its file anyway
                logger.warning("could not revoke the local CLI token %s", self.token_id)
        self.store.close()  # the API's own view of the store (serve_api's caller opened it for the API)


def serve_api(
    store: Store, config: AlertsConfig | Callable[[], AlertsConfig], host: str = "127.0.0.1", port: int = 8502
) -> ServedApi:
    """Serve the API on ``host:port`` (0: any free port). On an embedded store, also publish its address and
    a token for the store's owner, so ``biztrace`` commands beside this process work without setup.
    ``store``: the API's own (a :meth:`Store.view`), closed by :meth:`ServedApi.stop`, or here when the API
    cannot be served.

    Raises:
        OSError: the port cannot be bound.
    """
    from biztrace.alerts.replay import send

    try:
        server = ApiServer(build_app(store, config, replay_sender=send), host, port).start()
    except BaseException:
        store.close()
        raise
    token_id = None
    if store.address.embedded and store.address.path is not None:
        token, secret = tokens.create(store, f"{getpass.getuser()}@cli", ["admin"], "biztrace", datetime.now(UTC))
        remote.publish(store.address.path, server.url, secret)
        token_id = token.id
    logger.info("API on %s (OpenAPI: %s/api/v1/openapi.json)", server.url, server.url)
    return ServedApi(server, store, token_id)
