"""``biztrace export exceptions``: every row of the exception queue as CSV or JSON lines, streamed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

import httpx
from clickhouse_connect.driver.exceptions import ClickHouseError
from pydantic import Field

from biztrace.cli.util import EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_STORE, EXIT_USAGE, CommandFailed, open_store
from biztrace.config.replay import ExceptionKind
from biztrace.readmodel.errors import ReadModelError
from biztrace.readmodel.models import naive_utc
from biztrace.store import StoreError
from biztrace.store.options import StoreOptions


class ExportExceptions(StoreOptions):
    """Write every row of the exception queue, as the list shows it, as CSV (a header, then a row
    each) or JSON lines (one object each), streamed as the store produces it.

    Without --state: the open and acknowledged exceptions, as 'biztrace exceptions' lists them.
    When a running biztrace holds the store, the rows come through its API.

    Examples:
      biztrace export exceptions --output exceptions.csv
      biztrace export exceptions --format json --state resolved > resolved.jsonl
    """

    format: Literal["csv", "json"] = Field("csv", description="csv (with a header) or json (JSON lines)")
    output: Path | None = Field(None, description="the file to write (default: standard output)")
    process: str | None = Field(None, description="only this process")
    kind: ExceptionKind | None = Field(None, description="only this kind")
    state: Literal["open", "acknowledged", "postponed", "resolved"] | None = Field(None, description="only this state")
    config: Path | None = Field(None, description="YAML with processes, rules, routes (merged over the defaults)")
    now: datetime | None = Field(
        None,
        description="the queue as of this time (ISO 8601; default: the clock; through a running biztrace: its clock)",
    )

    def cli_cmd(self) -> None:
        from biztrace import config as alerts_config
        from biztrace.readmodel.exports import export_exceptions

        if self.output is not None and not self.output.parent.is_dir():
            raise CommandFailed(f"cannot write {self.output}: there is no directory {self.output.parent}", EXIT_USAGE)
        try:
            config = alerts_config.load(self.config)
        except ValueError as exc:
            raise CommandFailed(str(exc).splitlines()[0], EXIT_USAGE) from exc
        now = naive_utc(self.now or datetime.now(UTC))
        filters = {"process": self.process, "kind": self.kind, "state": self.state}
        try:
            with open_store(self.store) as store:
                written = _write(export_exceptions(store, config, now, fmt=self.format, **filters), self.output)
        except (StoreError, ReadModelError, ClickHouseError) as exc:
            raise CommandFailed(f"the store could not answer: {str(exc).splitlines()[0]}", EXIT_STORE) from exc
        except CommandFailed as failure:
            from biztrace.cli.remote import remote_for

            api = remote_for(self.store, failure)
            written = _write(_remote(api.url, api.token, {"format": self.format, **filters}), self.output)
        if self.output is not None:
            print(f"wrote {self.output} ({written:,} bytes, {self.format})", file=sys.stderr)


def _write(chunks: Iterator[bytes], output: Path | None) -> int:
    """Write ``chunks`` to ``output`` (standard output when None); the bytes written. A file left
    half-written by a failure is removed."""
    written = 0
    try:
        target: BinaryIO = open(output, "wb") if output is not None else sys.stdout.buffer  # noqa: SIM115
    except OSError as exc:
        raise CommandFailed(f"cannot write {output}: {exc.strerror or exc}", EXIT_USAGE) from exc
    try:
        for chunk in chunks:
            written += target.write(chunk)
        target.flush()
    except BaseException:
        if output is not None:
            target.close()
            output.unlink(missing_ok=True)
        raise
    finally:
        if output is not None:
            target.close()
    return written


def _remote(url: str, token: str, params: dict) -> Iterator[bytes]:
    """The export from the API of the process that holds the store, as it streams."""
    try:
        asked = {k: v for k, v in params.items() if v is not None}
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.stream(
            "GET", f"{url}/api/v1/exports/exceptions", headers=headers, params=asked, timeout=600
        ) as answer:
            if answer.status_code >= 300:
                answer.read()
                code = {404: EXIT_NOT_FOUND, 400: EXIT_USAGE, 422: EXIT_USAGE, 401: EXIT_REFUSED,
                        403: EXIT_REFUSED}.get(answer.status_code, EXIT_STORE)  # fmt: skip
                raise CommandFailed(f"the API refused the export ({answer.status_code}): {answer.text[:200]}", code)
            yield from answer.iter_bytes()
    except httpx.HTTPError as exc:
        raise CommandFailed(f"the process holding the store did not answer at {url}: {exc}", EXIT_STORE) from exc
