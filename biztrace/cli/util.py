"""What every ``biztrace`` command shares: exit codes, JSON output, opening the store."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel

from biztrace.store import StoreError, connect, parse_store, schema

EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_STORE = 3
EXIT_REFUSED = 4


class CommandFailed(Exception):
    """A command's expected failure: printed as one line on stderr, with an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def print_json(document: BaseModel | list | dict) -> None:
    if isinstance(document, BaseModel):
        sys.stdout.write(document.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner with ``message`` on the terminal's stderr while a long command computes (nothing when stderr
    is not a terminal: a pipe or a log gets only the answer)."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


class open_store:
    """Open the store for one command, turning store errors into exit code 3.

    A command that only reads (``create=False``, the default) never creates a store: an embedded
    directory that does not exist, or a store without biztrace's tables, is exit code 3 with a
    message saying how to make one.
    """

    def __init__(self, dsn: str, create: bool = False, require_schema: bool = True) -> None:
        self.dsn = dsn
        self.create = create
        self.require_schema = require_schema and not create

    def __enter__(self):
        try:
            address = parse_store(self.dsn)
            if not self.create and address.embedded and address.path is not None and not address.path.is_dir():
                raise StoreError(
                    f"there is no store at {address.path}: start one with 'biztrace up' or 'biztrace db init', "
                    "or name another with --store"
                )
            self.store = connect(self.dsn, create_database=self.create)
        except StoreError as exc:
            raise CommandFailed(str(exc), EXIT_STORE) from exc
        if self.require_schema and not _has_schema(self.store):
            self.store.close()
            raise CommandFailed(
                f"the store {self.store.address.display} has no biztrace tables: run 'biztrace db init' first",
                EXIT_STORE,
            )
        if self.require_schema and (pending := _pending(self.store)):
            self.store.close()
            raise CommandFailed(
                f"the store {self.store.address.display} lacks this version's schema changes ({', '.join(pending)}): "
                "run 'biztrace db init' (or start 'biztrace up' or 'biztrace collect' on it) first",
                EXIT_STORE,
            )
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def _pending(store) -> list[str]:
    """The migrations a store with biztrace's tables has not applied yet (``NNN_name``)."""
    return [f"{m.version:03d}_{m.name}" for m in schema.status(store, schema.SchemaOptions()) if not m.applied]


def _has_schema(store) -> bool:
    try:
        return bool(
            int(
                store.client.command(
                    "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String}",
                    parameters={"db": store.database, "name": schema.HOPS},
                )
            )
        )
    except Exception:  # a database that does not exist answers with an error on some servers
        return False
