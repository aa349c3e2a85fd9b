"""``biztrace token``: API tokens with roles (created, listed, revoked; each change audited)."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import CliApp, CliPositionalArg, CliSubCommand

from biztrace.api import tokens
from biztrace.cli.remote import remote_for
from biztrace.cli.util import EXIT_NOT_FOUND, EXIT_USAGE, CommandFailed, open_store, print_json
from biztrace.store.options import StoreOptions

RoleName = Literal["operations", "support", "on-call", "admin"]


class _TokenOptions(StoreOptions):
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print one JSON document")


class TokenCreate(_TokenOptions):
    """Create an API token; its secret is printed once, only its hash is kept.

    Example: biztrace token create grafana --role operations
    """

    name: CliPositionalArg[str] = Field(description="who or what uses it, e.g. grafana or ticketing")
    role: list[RoleName] = Field(description="operations, support, on-call or admin; repeat for several")

    def cli_cmd(self) -> None:
        try:
            with open_store(self.store) as store:
                token, secret = tokens.create(store, self.name, list(self.role), getpass.getuser(), datetime.now(UTC))
                created = {"token": token.model_dump(mode="json"), "secret": secret}
        except ValueError as exc:
            raise CommandFailed(str(exc), EXIT_USAGE) from exc
        except CommandFailed as failure:
            body = {"name": self.name, "roles": list(self.role)}
            created = remote_for(self.store, failure).call("POST", "/tokens", body=body)
        if self.json_output:
            print_json(created)
        else:
            print(f"token {created['token']['id']} for {self.name} ({', '.join(created['token']['roles'])}):")
            print(created["secret"])
            print("keep it now: it is not shown again (send it as 'Authorization: Bearer <token>')")


class TokenList(_TokenOptions):
    """Every API token, revoked ones included (never a secret)."""

    def cli_cmd(self) -> None:
        try:
            with open_store(self.store) as store:
                rows = [t.model_dump(mode="json") for t in tokens.list_tokens(store)]
        except CommandFailed as failure:
            rows = remote_for(self.store, failure).call("GET", "/tokens")
        if self.json_output:
            print_json(rows)
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(rows)} API tokens")
        for column in ("id", "name", "roles", "created", "by", "state"):
            table.add_column(column)
        for row in rows:
            state = f"revoked {row['revoked_at'][:16]}" if row["revoked"] else "active"
            table.add_row(row["id"], row["name"], ", ".join(row["roles"]), row["created_at"][:16], row["created_by"],
                          state)  # fmt: skip
        Console().print(table)


class TokenRevoke(_TokenOptions):
    """Revoke an API token: it is refused from now on."""

    id: CliPositionalArg[str] = Field(description="the token's id (see biztrace token list)")

    def cli_cmd(self) -> None:
        try:
            with open_store(self.store) as store:
                if not tokens.revoke(store, self.id, getpass.getuser(), datetime.now(UTC)):
                    raise CommandFailed(f"no token {self.id!r}", EXIT_NOT_FOUND)
        except CommandFailed as failure:
            if failure.code == EXIT_NOT_FOUND:
                raise
            remote_for(self.store, failure).call("DELETE", f"/tokens/{self.id}")
        print_json({"revoked": self.id}) if self.json_output else print(f"token {self.id} revoked")


class TokenCommand(BaseModel):
    """API tokens for other programs (Grafana, ticketing, the middleware) and people's scripts."""

    create: CliSubCommand[TokenCreate] = Field(description="create a token with roles (secret shown once)")
    list: CliSubCommand[TokenList] = Field(description="every token and its state")
    revoke: CliSubCommand[TokenRevoke] = Field(description="revoke a token")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)
