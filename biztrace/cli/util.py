"""What every ``biztrace`` command shares: exit codes, JSON output, opening the store."""

from __future__ import annotations

import json
import sys

from pydantic import BaseModel

from biztrace.store import StoreError, connect

EXIT_NOT_FOUND = 1
EXIT_STORE = 3


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


class open_store:
    """Open the store for one command, turning store errors into exit code 3."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def __enter__(self):
        try:
            self.store = connect(self.dsn)
        except StoreError as exc:
            raise CommandFailed(str(exc), EXIT_STORE) from exc
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()
