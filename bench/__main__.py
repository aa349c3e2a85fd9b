"""Run the benchmarks: ``python -m bench`` (``make bench``); figures go to docs/benchmarks.md.

Every figure is a ratio against a baseline measured in the same run, because this machine
is shared and noisy. ``--quick`` runs small sizes to check the benchmarks themselves.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

RESULTS = Path(__file__).resolve().parent / "results"


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)  # fmt: skip


@contextmanager
def _fresh_store(name: str) -> Iterator:
    """A new embedded store with biztrace's schema, in a temporary directory removed with it on exit (a full
    run would otherwise leave ~5 GB in the temporary directory)."""
    from biztrace.store import connect, schema

    directory = tempfile.mkdtemp(prefix=f"biztrace-bench-{name}-")
    try:
        store = connect(f"chdb://{directory}")
        try:
            schema.apply(store, schema.SchemaOptions())
            yield store
        finally:
            store.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _ingest(quick: bool) -> dict:
    from bench import ingest

    return ingest.run(requests=40 if quick else 400)


def _lookup(quick: bool) -> dict:
    from bench import lookup

    spans = 1_000_000 if quick else 10_000_000
    with _fresh_store("lookup") as store:
        with _progress() as bar:
            task = bar.add_task("generating spans", total=spans)
            lookup.fill(store, spans, progress=lambda n: bar.advance(task, n))
        result = lookup.measure(store)
        result["storage"] = lookup.storage(store)
    return result


def _alerts(quick: bool) -> dict:
    from bench import alerts_eval

    transactions = 100_000 if quick else 1_000_000
    with _fresh_store("alerts") as store:
        with _progress() as bar:
            task = bar.add_task("generating transactions", total=transactions)
            result = alerts_eval.run(store, transactions, progress=lambda n: bar.advance(task, n), calendars=True)
    for name in alerts_eval.CONFIGURATIONS:  # each on the same transactions, in a store of its own
        with _fresh_store(f"alerts-{name}") as store:
            with _progress() as bar:
                task = bar.add_task(f"generating transactions ({name})", total=transactions)
                advance = partial(bar.advance, task)
                result |= alerts_eval.run_configuration(store, transactions, name, advance)
    return result


def _reconcile(quick: bool) -> dict:
    from bench import reconcile_eval

    orders = 100_000 if quick else 1_000_000
    with _fresh_store("reconcile") as store:
        with _progress() as bar:
            task = bar.add_task("generating orders", total=orders)
            result = reconcile_eval.run(store, orders, progress=lambda n: bar.advance(task, n))
    return result


def _hop(quick: bool) -> dict:
    from bench import hop_overhead

    return hop_overhead.run(quick)


def _simulate(quick: bool) -> dict:
    from bench import simulate_rate

    return simulate_rate.run(quick)


def _dashboard(quick: bool) -> dict:
    from bench import dashboard

    transactions = 50_000 if quick else 1_170_000
    with _progress() as bar:
        task = bar.add_task("generating transactions", total=transactions)
        return dashboard.run(transactions, progress=lambda n: bar.advance(task, n))


def _api(quick: bool) -> dict:
    from datetime import UTC, datetime

    from bench import alerts_eval, api, lookup

    if quick:  # one store per process: the key tree on spans, the queue on transactions, one after the other
        spans, transactions = 1_000_000, 100_000
    else:
        spans, transactions = 10_000_000, 1_000_000
    result: dict = {}
    with _fresh_store("api-keys") as store:
        with _progress() as bar:
            task = bar.add_task("generating spans", total=spans)
            lookup.fill(store, spans, progress=lambda n: bar.advance(task, n))
        result["key_tree"] = api.key_tree(store)
        store.client.command(f"TRUNCATE TABLE {store.table('biz_hops')}")
        now = datetime.now(UTC).replace(tzinfo=None)
        with _progress() as bar:
            task = bar.add_task("generating transactions", total=transactions)
            alerts_eval.fill(store, transactions, now, progress=lambda n: bar.advance(task, n))
        result["queue"] = api.queue(store, now)
    return result


def _scorecards(quick: bool) -> dict:
    from bench import scorecards

    transactions = 20_000 if quick else 1_000_000
    with _fresh_store("scorecards") as store:
        with _progress() as bar:
            task = bar.add_task("generating transactions", total=transactions)
            result = scorecards.run(store, transactions, progress=lambda n: bar.advance(task, n))
    return result


def _ocel(quick: bool) -> dict:
    from bench import ocel_export

    return ocel_export.run(10_000 if quick else 100_000)


BENCHMARKS = {"ingest": _ingest, "lookup": _lookup, "alerts": _alerts, "reconcile": _reconcile, "hop": _hop,
              "simulate": _simulate, "dashboard": _dashboard, "api": _api, "ocel": _ocel,
              "scorecards": _scorecards}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: check the benchmarks, not the figures")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    for name in args.only or list(BENCHMARKS):
        started = time.monotonic()
        print(f"running {name} ...", file=sys.stderr)
        # chDB hosts one engine per process: each in-process benchmark runs in its own process
        in_process = name in ("ingest", "hop", "simulate")  # these start their own collector processes
        results[name] = BENCHMARKS[name](args.quick) if in_process else _in_subprocess(name, args.quick)
        print(f"{name}: {time.monotonic() - started:.0f}s", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2) if args.json else _table(results))
    return 0


def _in_subprocess(name: str, quick: bool) -> dict:
    import subprocess

    code = f"import json; from bench.__main__ import BENCHMARKS; print(json.dumps(BENCHMARKS[{name!r}]({quick!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    if out.returncode:
        raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(results: dict) -> str:
    lines = ["| benchmark | figure | value |", "|---|---|---|"]
    for name, result in results.items():
        for key, value in _flatten(result):
            lines.append(f"| {name} | {key} | {value} |")
    return "\n".join(lines)


def _flatten(document: dict, prefix: str = ""):
    for key, value in document.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


if __name__ == "__main__":
    raise SystemExit(main())
