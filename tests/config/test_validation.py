"""The whole configuration is validated at load: receivers typed per channel, ``by:`` labels,
matchers compiled, durations and URLs; every problem as ``file:line: field: problem``."""

from __future__ import annotations

import traceback
from datetime import datetime, timedelta

import pytest

from biztrace import config
from biztrace.config.errors import ConfigError
from biztrace.config.receivers import PagerDutyConfig, SlackConfig, WebhookConfig
from biztrace.config.silences import Silence, stored_silences

T0 = datetime(2026, 11, 20, 12, 0)


def _load(tmp_path, text: str) -> config.AlertsConfig:
    path = tmp_path / "biztrace.yaml"
    path.write_text(text)
    return config.load(path)


def _problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    return [line.replace(str(tmp_path) + "/", "") for line in str(caught.value).splitlines()]


def test_receivers_are_typed_per_channel_kind(tmp_path):
    loaded = _load(tmp_path, """
route: {receiver: ops}
receivers:
  - name: ops
    webhook: {url: "https://ops.example.com/hook", timeout_s: 3}
    slack: [{url: "https://hooks.slack.com/services/T0/B0/x"}]
    pagerduty: {routing_key: "RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR"}
""")  # fmt: skip
    [ops] = loaded.receivers
    kinds = [(kind, type(settings)) for kind, settings in ops.channel_configs()]
    assert kinds == [("webhook", WebhookConfig), ("slack", SlackConfig), ("pagerduty", PagerDutyConfig)]
    assert ops.webhook[0].timeout_s == 3


def test_a_bad_channel_is_refused_at_load_with_file_line_and_field(tmp_path):
    problems = _problems(tmp_path, """
route: {receiver: ops}
receivers:
  - name: ops
    webhook: {url: "ftp://ops.example.com/hook", timeout_s: 0}
    pagerduty: {routing_key: "SECRET-too-short"}
    email: {to: [], password: "pw-SECRET"}
""")  # fmt: skip
    assert "biztrace.yaml:5: receivers.0.webhook.0.url: must be an http:// or https:// URL with a host" in problems
    assert "biztrace.yaml:5: receivers.0.webhook.0.timeout_s: Input should be greater than 0" in problems
    assert "biztrace.yaml:6: receivers.0.pagerduty.0.routing_key: must be the integration's 32-character routing key" \
        in problems  # fmt: skip
    assert any(p.startswith("biztrace.yaml:7: receivers.0.email.0.to:") for p in problems)


def test_channel_secrets_are_not_repeated_in_errors(tmp_path):
    path = tmp_path / "biztrace.yaml"
    path.write_text("""
route: {receiver: ops}
receivers:
  - name: ops
    pagerduty: {routing_key: "SECRET-too-short"}
    webhook: {url: "https://user:pw-SECRET@x.example/h", token: "tok-SECRET", timeout_s: -1}
""")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    printed = "".join(traceback.format_exception(caught.value))
    assert "routing_key" in printed and "must not carry credentials" in printed
    assert "SECRET" not in printed


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("{name: R, kind: stuck_count, threshold: 1, by: [region]}",
         "rules.0.by: a stuck_count rule reports process, stage, system, channel, priority; not 'region'"),
        ("{name: R, kind: dead_letters, threshold: 0, by: [process, channel]}",
         "rules.0.by: a dead_letters rule reports process, stage, system; not 'channel'"),
        ("{name: R, kind: mismatch_rate, threshold: 0, by: [system]}",
         "rules.0.by: a mismatch_rate rule reports process; not 'system'"),
        ("{name: R, kind: hop_latency_p95, threshold: 1, by: [system, system]}", "a label is listed twice"),
    ],
)  # fmt: skip
def test_by_labels_are_checked_against_what_the_kind_reports(tmp_path, rule, expected):
    problems = _problems(tmp_path, f"rules:\n  - {rule}\n")
    assert any(expected in problem for problem in problems), problems
    assert problems[0].startswith("biztrace.yaml:2: rules.")  # the user's line, not the merged index
    assert len(problems) == 1


def test_by_labels_the_kind_reports_load(tmp_path):
    loaded = _load(tmp_path, """
rules:
  - {name: ByChannel, kind: stuck_count, threshold: 1, by: [process, channel, priority]}
  - {name: BySpan, kind: hop_latency_p95, threshold: 1, by: [span_name, stage]}
""")  # fmt: skip
    assert {r.name: r.grouping() for r in loaded.rules if r.name.startswith("By")} == {
        "ByChannel": ["process", "channel", "priority"], "BySpan": ["span_name", "stage"],
    }  # fmt: skip


def test_route_and_inhibit_matchers_are_compiled_at_load(tmp_path):
    problems = _problems(tmp_path, """
route:
  receiver: default
  routes:
    - {matchers: {alertname: "~("}, receiver: default}
inhibit_rules:
  - source_matchers: {severity: "~[critical"}
    target_matchers: {"bad label": warning}
""")  # fmt: skip
    assert problems[0].startswith("biztrace.yaml:5: route.routes.0.matchers: matcher alertname=~(: the regex does not")
    assert problems[1].startswith("biztrace.yaml:7: inhibit_rules.0.source_matchers: matcher severity=~[critical:")
    assert problems[2].startswith("biztrace.yaml:8: inhibit_rules.0.target_matchers: matcher 'bad label'")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - {name: R, kind: dead_letters, threshold: 0, window: 800000d}\n",
         "biztrace.yaml:2: rules.0.window: 800000d is longer than 3650d"),
        ("rules:\n  - {name: R, kind: dead_letters, threshold: 0, window: 0s}\n",
         "biztrace.yaml:2: rules.0.window: Input should be greater than 0 seconds"),
        ("rules:\n  - {name: R, kind: dead_letters, threshold: 0, for: -5}\n",
         "biztrace.yaml:2: rules.0.for: a duration cannot be negative"),
        ("runbooks:\n  - {kind: stuck, url: 'runbooks/stuck'}\n",
         "biztrace.yaml:2: runbooks.0.url: must be an http:// or https:// URL with a host"),
    ],
)  # fmt: skip
def test_durations_and_urls_are_bounded(tmp_path, text, expected):
    problems = _problems(tmp_path, text)
    assert any(problem.startswith(expected.split(": ", 1)[0]) and expected.split(": ", 1)[1] in problem
               for problem in problems), problems  # fmt: skip


def test_every_problem_is_reported_each_at_its_line(tmp_path):
    problems = _problems(tmp_path, """
rules:
  - {name: A, kind: stuck_count, threshold: 1, process: nope}
  - {name: B, kind: stuck_count, threshold: 1, stage: nowhere}
route:
  receiver: ops
  routes:
    - {receiver: ghost}
receivers:
  - {name: ops}
  - {name: ops}
""")  # fmt: skip
    assert problems == [
        "biztrace.yaml:3: rules.0.process: rule 'A': process 'nope' is not defined",
        "biztrace.yaml:4: rules.1.stage: rule 'B': stage 'nowhere' is not a stage of its process",
        "biztrace.yaml:11: receivers.1.name: receiver 'ops' is defined twice",
        "biztrace.yaml:8: route.routes.0.receiver: receiver 'ghost' is not defined under receivers",
    ]


def test_a_silence_with_a_regex_that_does_not_compile_is_refused_where_it_is_typed():
    with pytest.raises(ValueError, match=r"^matchers: matcher alertname=~\(: the regex does not compile") as caught:
        Silence(id="s1", matchers={"alertname": "~("}, starts_at=T0, ends_at=T0 + timedelta(hours=1),
                created_by="alice", created_at=T0)  # fmt: skip
    assert "\n" not in str(caught.value)
    ok = Silence(id="s2", matchers={"alertname": "~Orders.*"}, starts_at=T0, ends_at=T0 + timedelta(hours=1),
                 created_by="alice", created_at=T0)  # fmt: skip
    assert ok.problem is None and ok.mutes({"alertname": "OrdersStuck"}, T0)


def test_a_stored_silence_that_does_not_compile_loads_and_mutes_nothing():
    with stored_silences():
        stored = Silence(id="s1", matchers={"alertname": "~("}, starts_at=T0, ends_at=T0 + timedelta(hours=1),
                         created_by="old-version", created_at=T0)  # fmt: skip
    assert stored.problem and "does not compile" in stored.problem
    assert stored.state(T0) == "active" and not stored.mutes({"alertname": "("}, T0)
