"""``biztrace dashboard``, ``biztrace up`` and ``biztrace user add``."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import CliApp, CliPositionalArg, CliSubCommand

from biztrace.cli.serving import ApiOptions, serve_api
from biztrace.cli.util import EXIT_STORE, CommandFailed
from biztrace.collector.settings import CollectorSettings
from biztrace.config import load as load_config
from biztrace.config.errors import ConfigError
from biztrace.dashboard import auth
from biztrace.dashboard.settings import DashboardSettings
from biztrace.store import StoreError, connect


def _oidc_configured() -> bool:
    """Streamlit reads ``.streamlit/secrets.toml`` from the working directory or the home directory."""
    for path in (Path.cwd() / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"):
        if path.exists() and "[auth" in path.read_text():
            return True
    return False


def _check_users(settings: DashboardSettings) -> None:
    if settings.users_file is not None:
        try:
            auth.load_users(settings.users_file)
        except auth.AuthError as exc:
            raise CommandFailed(str(exc), 2) from exc
    elif not _oidc_configured():
        raise CommandFailed(
            "nobody could sign in: give --users-file (create one with 'biztrace user add NAME --role admin "
            "--users-file users.yaml') or configure an OIDC provider in .streamlit/secrets.toml",
            2,
        )


class DashboardCommand(DashboardSettings, ApiOptions):
    """Serve the dashboard (Streamlit) on its own.

    Reads a ClickHouse server, or an embedded store no other process holds. While a collector
    holds the embedded store, run 'biztrace up' instead: it serves the dashboard from the
    collector's process.

    Example: biztrace dashboard --store http://user:pass@clickhouse:8123/otel --users-file users.yaml
    """

    def cli_cmd(self) -> None:
        from biztrace.alerts.replay import send
        from biztrace.dashboard import data, server, ui

        _check_users(self)
        try:
            store = connect(self.store)
        except StoreError as exc:
            raise CommandFailed(f"{exc} (or run 'biztrace up', which serves the dashboard itself)", EXIT_STORE) from exc
        data.share_store(store)
        try:
            config = load_config(self.config)  # before the API's view is opened: serve_api closes it if it fails
            api = serve_api(store.view(), config, self.api_host, self.api_port)
        except (OSError, ConfigError) as exc:
            data.share_store(None)
            store.close()
            raise CommandFailed(str(exc), EXIT_STORE if isinstance(exc, OSError) else 2) from exc
        print(f"biztrace dashboard: http://{self.dashboard_host}:{self.dashboard_port}, API {api.url}", file=sys.stderr,
              flush=True)  # fmt: skip
        ui.share_replay_sender(send)  # the exception queue's replay action (the dashboard may not import alerts)
        try:
            server.serve(self.dashboard_host, self.dashboard_port, self.environment())
        finally:
            api.stop()
            data.share_store(None)
            ui.share_replay_sender(None)
            store.close()


class UpCommand(CollectorSettings, DashboardSettings, ApiOptions):
    """Run everything in one process: collector, alert loop and dashboard, on one store.

    --demo adds the simulator: a few days of a distributor's business backfilled, then live
    traffic, and a demo user whose password is printed. Ctrl-C stops everything cleanly.

    Example: biztrace up --demo        (then open the printed address)
    """

    demo: bool = Field(False, description="simulate a distributor's traffic (backfill, then live)")
    demo_days: float = Field(3.0, gt=0, le=60, description="days of history the demo backfills")
    demo_orders_per_day: int = Field(1500, ge=1, description="orders per day in the demo")
    demo_seed: int = Field(7, description="the demo's random seed")
    demo_password: str | None = Field(None, description="the demo user's password (default: a random one, printed)")

    def cli_cmd(self) -> None:
        from biztrace.cli import up

        if not self.demo or self.users_file is not None:
            _check_users(self)
        try:
            up.run(
                self,
                demo=self.demo,
                days=self.demo_days,
                orders_per_day=self.demo_orders_per_day,
                seed=self.demo_seed,
                demo_password=self.demo_password,
            )
        except StoreError as exc:
            raise CommandFailed(str(exc), EXIT_STORE) from exc
        except OSError as exc:
            raise CommandFailed(str(exc), EXIT_STORE) from exc


class UserAdd(BaseModel):
    """Add (or replace) a local dashboard user with a hashed password.

    The password is read from BIZTRACE_USER_PASSWORD, or asked for (never a flag: shells keep history).
    The file is replaced atomically and written with mode 0600.

    Example: biztrace user add alice --role operations --role support --users-file users.yaml
    """

    name: CliPositionalArg[str] = Field(description="the user name people sign in with")
    role: list[auth.Role] = Field(description="operations, support, on-call or admin; repeat for several")
    users_file: Path = Field(Path("users.yaml"), description="the users file to write")

    def cli_cmd(self) -> None:
        password = os.environ.get("BIZTRACE_USER_PASSWORD")
        if password is None:
            if not sys.stdin.isatty():
                raise CommandFailed("set BIZTRACE_USER_PASSWORD or run in a terminal to be asked", 2)
            password = getpass.getpass(f"password for {self.name}: ")
            if password != getpass.getpass("again: "):
                raise CommandFailed("the passwords differ", 2)
        if len(password) < 8:
            raise CommandFailed("a password needs at least 8 characters", 2)
        try:
            auth.save_user(self.users_file, self.name, password, self.role)
        except auth.AuthError as exc:
            raise CommandFailed(str(exc), 2) from exc
        print(f"{self.name} ({', '.join(self.role)}) saved in {self.users_file} (readable by its owner only)")


class UserCommand(BaseModel):
    """Manage the dashboard's local users."""

    add: CliSubCommand[UserAdd] = Field(description="add or replace a user")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)
