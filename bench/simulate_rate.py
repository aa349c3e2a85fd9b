"""Figure of issue 3: spans/s the simulator backfills into a running collector, with its own
producers and with producers as varied as real ones (issue 13: `simulate --varied`).

The collector runs as its own process on a fresh store; the simulator backfills from this
process (building OTLP requests directly, as the issue allows). Baseline in the same run:
the same collector fed pre-serialized requests (bench.ingest's replay), so the ratio shows
what generating the business costs on top of ingest.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench.ingest import removed, run_protocol


def run(quick: bool = False) -> dict[str, Any]:
    import shutil
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request
    from pathlib import Path

    from bench.ingest import ROOT, _free_port
    from biztrace.simulator.run import backfill
    from biztrace.simulator.scenario import Scenario
    from biztrace.simulator.sender import OtlpHttpSender

    replay = run_protocol("http", 60 if quick else 300)
    removed(replay)
    summaries = {}
    # the simulator's own producers, then as varied as real ones (`simulate --varied`: no biz.process
    # or biz.system, other systems reporting stages, keys linked on separate hops), other ids; each into a
    # collector on a fresh store, as the replay's baseline (the second into one store measured ~20% slower,
    # whichever it was: the first one's parts were merging)
    for label, seed, varied in (("conventional", 5, False), ("varied", 6, True)):
        workdir = Path(tempfile.mkdtemp(prefix="biztrace-bench-sim-"))
        port = _free_port()
        collector = subprocess.Popen(
            [sys.executable, "-m", "biztrace.cli", "collect", "--store", f"chdb://{workdir / 'store'}", "--host",
             "127.0.0.1", "--http-port", str(port), "--grpc-port", str(_free_port())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
        )  # fmt: skip
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            scenario = Scenario(seed=seed, days=1 if quick else 5, orders_per_day=3000, now=datetime.now(UTC),
                                varied=varied)  # fmt: skip
            sender = OtlpHttpSender(f"http://127.0.0.1:{port}", concurrency=32)
            summaries[label], _, _ = backfill(scenario, sender)
            sender.close()
        finally:
            collector.terminate()
            collector.wait(60)
            shutil.rmtree(workdir, ignore_errors=True)
    summary, varied_summary = summaries["conventional"], summaries["varied"]
    return {
        "spans": summary.spans_sent,
        "simulator_spans_per_s": round(summary.spans_per_second),
        "replay_spans_per_s": replay["spans_per_s"],
        "simulator_over_replay": round(summary.spans_per_second / replay["spans_per_s"], 2),
        "varied_spans": varied_summary.spans_sent,
        "varied_spans_per_s": round(varied_summary.spans_per_second),
        "varied_over_replay": round(varied_summary.spans_per_second / replay["spans_per_s"], 2),
        "goal_spans_per_s": 20_000,
    }
