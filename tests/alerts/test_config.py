"""The YAML configuration: defaults, user additions, and mistakes named by file, line and field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from biztrace import config
from biztrace.config.errors import ConfigError


def test_defaults_declare_the_conventions_processes():
    defaults = config.load()
    assert defaults.processes["order_to_cash"].stage_names() == [
        "order.captured", "order.accepted", "inventory.allocated", "shipment.confirmed", "invoice.posted",
        "payment.received",
    ]  # fmt: skip
    assert defaults.processes["returns"].key == "return.id"
    assert defaults.processes["customer_master"].completes_at == "customer.synced"
    assert defaults.processes["order_to_cash"].stages[1].sla.by_priority["high"] == timedelta(minutes=30)


def test_a_user_adds_a_process_and_a_rule_without_python(tmp_path):
    path = tmp_path / "biztrace.yaml"
    path.write_text("""
processes:
  procure_to_pay:
    key: invoice.id
    stages:
      - name: po.created
      - name: goods.received
        sla: {within: 3d, by_channel: {edi: 1d}}
      - name: invoice.matched
        sla: {within: 1h30m}
rules:
  - name: SupplierInvoicesStuck
    kind: stuck_count
    process: procure_to_pay
    threshold: 0
""")
    loaded = config.load(path)
    assert set(loaded.processes) >= {"order_to_cash", "procure_to_pay"}
    stages = loaded.processes["procure_to_pay"].stages
    assert stages[2].sla.within == timedelta(hours=1, minutes=30)
    assert stages[1].sla.by_channel == {"edi": timedelta(days=1)}
    assert "SupplierInvoicesStuck" in [r.name for r in loaded.rules] and "OrdersStuck" in [r.name for r in loaded.rules]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "processes:\n  p:\n    key: order.id\n    stages:\n      - name: a\n"
            "      - name: b\n        sla: {within: 2x}\n",
            "broken.yaml:7: processes.p.stages.1.sla.within: '2x' is not a duration",
        ),
        ("processes:\n  p:\n    key: po.id\n    stages: [{name: a}]\n", "broken.yaml:3: processes.p: key 'po.id'"),
        ("processes:\n  p:\n    key: order.id\n    stages: [{name: a}, {name: a}]\n", "stage 'a' is listed twice"),
        (
            "rules:\n  - name: R\n    kind: stuck_count\n    threshold: 1\n    process: nope\n",
            "process 'nope' is not defined",
        ),
        ("rules:\n  - name: R\n    kind: nonsense\n    threshold: 1\n", "broken.yaml:3: rules.0.kind"),
        ("route: {receiver: nobody}\n", "receiver 'nobody' is not defined"),
        ("processes: [1\n", "broken.yaml:2: not valid YAML"),
        (
            "processes:\n  p:\n    key: order.id\n    stages: ["
            + ", ".join(f"{{name: s{i}}}" for i in range(256))
            + "]\n",
            "processes.p.stages: List should have at most 255 items",
        ),
        ("rules:\n  - name: R\n    kind: stuck_count\n    threshold: 1\n    frobnicate: 2\n", "frobnicate"),
    ],
)
def test_mistakes_name_file_line_and_field(tmp_path, text, expected):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        config.load(path)
    assert expected in str(error.value).replace(str(tmp_path) + "/", "")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "absent.yaml")
