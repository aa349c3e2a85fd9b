"""Replay targets: validated on load, chosen by specificity, rendered without ever re-reading a value."""

from __future__ import annotations

import json

import pytest

from biztrace import config as biz_config
from biztrace.config.errors import ConfigError
from biztrace.config.replay import MissingVariable, ReplayTarget, choose

VALUES = {"process": "order_to_cash", "key": "A/B 1", "kind": "failed", "stage": "order.accepted", "system": "erp",
          "event_id": "e1", "request_id": "r1"}  # fmt: skip


def test_targets_load_from_yaml_with_defaults():
    config = biz_config.loads("replay:\n  - {name: mw, process: order_to_cash, url: 'https://mw.example/{key}'}\n")
    [target] = config.replay
    assert target.method == "POST" and target.timeout_s == 10 and target.roles == ["on-call", "admin"]


@pytest.mark.parametrize(("entry", "problem"), [
    ("{name: a, url: 'https://x/{order}'}", "unknown placeholder {order}"),
    ("{name: a, url: 'https://x', body: {t: '${TOKEN}'}}", "environment variables (${NAME}) go in the url and headers"),
    ("{name: a, url: 'ftp://x'}", "must be an http:// or https:// URL"),
    ("{name: a, url: 'https://x', roles: [boss]}", "roles.0"),
    ("{name: a, url: 'https://x', timeout_s: 0}", "timeout_s"),
    ("{name: a, url: 'https://x', kind: late}", "kind"),
])  # fmt: skip
def test_a_bad_target_is_a_one_line_config_error(entry, problem):
    with pytest.raises(ConfigError) as raised:
        biz_config.loads(f"replay:\n  - {entry}\n", "user.yaml")
    assert problem in str(raised.value) and str(raised.value).startswith("user.yaml:2: replay.0")


def test_the_most_specific_target_serves():
    anyone = ReplayTarget(name="any", url="https://x/a")
    erp = ReplayTarget(name="erp", process="order_to_cash", system="erp", url="https://x/b")
    erp_failed = ReplayTarget(
        name="erp_failed", process="order_to_cash", system="erp", kind="failed", url="https://x/c"
    )
    targets = [anyone, erp, erp_failed]
    assert choose(targets, "order_to_cash", "erp", "failed") is erp_failed
    assert choose(targets, "order_to_cash", "erp", "stuck") is erp
    assert choose(targets, "returns", "wms", "stuck") is anyone
    assert choose([erp], "returns", "erp", "failed") is None


def test_render_encodes_values_and_never_resolves_a_value_as_a_template():
    target = ReplayTarget(name="t", url="${MW_BASE}/orders/{key}?r={request_id}",
                          headers={"Authorization": "Bearer ${MW_TOKEN}", "X-Key": "{key}"},
                          body={"key": "{key}", "note": "replay of {kind} at {stage}", "n": 1})  # fmt: skip
    values = VALUES | {"key": "${MW_TOKEN}{request_id}"}
    request = target.render(values, {"MW_BASE": "https://mw.example", "MW_TOKEN": "tok"})
    assert request.url == "https://mw.example/orders/%24%7BMW_TOKEN%7D%7Brequest_id%7D?r=r1"
    assert request.headers["X-Key"] == "${MW_TOKEN}{request_id}" and request.headers["Authorization"] == "Bearer tok"
    assert json.loads(request.body) == {"key": "${MW_TOKEN}{request_id}", "note": "replay of failed at order.accepted",
                                        "n": 1}  # fmt: skip
    assert request.headers["Content-Type"] == "application/json" and request.secrets == ("https://mw.example", "tok")
    assert "tok" not in repr(request) and request.display_url == "${MW_BASE}/orders/{key}?r={request_id}"
    with pytest.raises(MissingVariable, match="environment variable MW_TOKEN is not set"):
        target.render(VALUES, {"MW_BASE": "https://mw.example"})
    with pytest.raises(ValueError, match="line break"):
        target.render(VALUES | {"key": "a\r\nX-Evil: 1"}, {"MW_BASE": "https://mw.example", "MW_TOKEN": "tok"})
