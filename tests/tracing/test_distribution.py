"""Issue 19: ``biztrace-tracing`` installs alone (none of the server's dependencies) in a fresh
virtualenv of at most 75 MB, imports as ``biztrace.tracing``, and its hops reach a real collector.

The install takes about a minute (pip's own cache is reused); the virtualenv lives in a tmp dir.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from biztrace.readmodel.lookup import key_history

ROOT = Path(__file__).resolve().parents[2]
TRACING = ROOT / "tracing"
GOAL_MB = 75
SERVER_ONLY = ("chdb", "clickhouse-connect", "pyarrow", "pandas", "streamlit", "plotly", "playwright", "grpcio",
               "aiohttp", "rich", "prometheus-client", "pydantic-settings")  # fmt: skip


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def _source(tmp_path: Path) -> Path:
    """A copy of tracing/ as git would give it (the build writes into its source folder)."""
    source = tmp_path / "src" / "tracing"
    shutil.copytree(TRACING, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    return source


def test_the_tracing_distribution_declares_only_the_instrumentation():
    tracing = tomllib.loads((TRACING / "pyproject.toml").read_text())
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert tracing["project"]["name"] == "biztrace-tracing"
    assert tracing["tool"]["setuptools"]["package-dir"] == {"biztrace.tracing": "."}
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip() for d in tracing["project"]["dependencies"]}
    assert names == {"opentelemetry-api", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "pydantic",
                     "pyyaml"}  # fmt: skip
    assert any(d.startswith("biztrace-tracing") for d in server["project"]["dependencies"])
    assert "biztrace.tracing" not in server["tool"]["setuptools"]["packages"]
    assert "biztrace.tracing" not in server["tool"]["setuptools"]["package-dir"]
    assert not (ROOT / "biztrace" / "__init__.py").exists()  # a namespace: both distributions fill it


def test_a_fresh_virtualenv_installs_it_alone_and_emits_a_hop(tmp_path, start_collector):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bare_mb = _size_mb(venv)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(_source(tmp_path))],
                         capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-2000:]
    total_mb = _size_mb(venv)

    listed = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=freeze"], capture_output=True, text=True,
                            env=env, check=True).stdout.lower()  # fmt: skip
    installed = {line.split("==")[0].replace("_", "-") for line in listed.split()}
    assert "biztrace-tracing" in installed and not installed & set(SERVER_ONLY), installed
    print(f"\nbiztrace-tracing: fresh venv {total_mb:.1f} MB ({bare_mb:.1f} MB before the install), "
          f"{len(installed)} distributions")  # fmt: skip
    assert total_mb <= GOAL_MB

    collector = start_collector()
    script = textwrap.dedent(f"""\
        import importlib.util
        from biztrace import tracing
        assert importlib.util.find_spec("biztrace.config") is None  # none of the server
        provider = tracing.configure("wms-bridge", endpoint="http://127.0.0.1:{collector.ports.http}/v1/traces")
        with tracing.hop("return.received", system="wms", return_id="R-VENV", order_id="O-VENV", quantity=3):
            pass
        assert provider.force_flush(30_000)
        print(tracing.__file__)
        """)
    run = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert Path(run.stdout.strip()).is_relative_to(venv)  # the installed copy, not the repository's
    [received] = key_history(collector.store, "R-VENV").hops
    assert (received.process, received.stage, received.system, received.quantity) == ("returns", "return.received",
                                                                                       "wms", 3.0)  # fmt: skip
