"""The provisioned Grafana dashboard asks only for figures the API exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
EXPOSED = {
    "biztrace_exceptions",
    "biztrace_stuck_transactions",
    "biztrace_oldest_stuck_seconds",
    "biztrace_mismatch_rate",
    "biztrace_sla_adherence",
}


def test_every_panel_queries_an_exposed_figure():
    dashboard = json.loads((COMPOSE / "grafana" / "dashboards" / "biztrace.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert exprs
    for expr in exprs:
        names = set(re.findall(r"\bbiztrace_[a-z_]+", expr))
        assert names and names <= EXPOSED, expr


def test_the_exposed_names_are_the_ones_the_api_serves():
    source = (COMPOSE.parent / "api" / "metrics.py").read_text()
    assert EXPOSED == set(re.findall(r'Gauge\(\s*"(biztrace_[a-z_]+)"', source))


def test_provisioning_files_parse():
    for path in (COMPOSE / "grafana" / "provisioning").rglob("*.yml"):
        assert yaml.safe_load(path.read_text())["apiVersion"] == 1
    scrape = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
