"""``biztrace config check FILE``: every problem with its file and line, exit 2; one line and exit 0 when valid."""

from __future__ import annotations

import json

from biztrace.cli import main

BAD = """\
rules:
  - {name: A, kind: stuck_count, threshold: 1, by: [region]}
  - {name: B, kind: dead_letters, threshold: 0, window: 2x}
route:
  receiver: ops
  routes:
    - {matchers: {alertname: "~("}, receiver: ops}
receivers:
  - name: ops
    slack: {url: "hooks.slack.com/services/T0/B0/SECRET"}
"""


def test_check_names_every_problem_and_exits_2(tmp_path, capsys):
    path = tmp_path / "biztrace.yaml"
    path.write_text(BAD)
    assert main(["config", "check", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.out.replace(str(tmp_path) + "/", "").splitlines()
    assert lines == [
        "biztrace.yaml:2: rules.0.by: a stuck_count rule reports process, stage, system, channel, priority; "
        "not 'region'",
        "biztrace.yaml:3: rules.1.window: '2x' is not a duration like 90s, 30m, 4h, 2d or 1h30m",
        "biztrace.yaml:7: route.routes.0.matchers: matcher alertname=~(: the regex does not compile: "
        "missing ), unterminated subpattern at position 0",
        "biztrace.yaml:10: receivers.0.slack.0.url: must be an http:// or https:// URL with a host",
    ]
    assert captured.err.strip() == f"biztrace: {path}: 4 problems"
    assert "Traceback" not in captured.err and "SECRET" not in captured.out + captured.err


def test_check_json(tmp_path, capsys):
    path = tmp_path / "biztrace.yaml"
    path.write_text(BAD)
    assert main(["config", "check", str(path), "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is False and len(document["problems"]) == 4
    assert document["problems"][0] == {
        "file": str(path), "line": 2, "field": "rules.0.by",
        "problem": "a stuck_count rule reports process, stage, system, channel, priority; not 'region'",
    }  # fmt: skip


def test_a_valid_file_is_one_line_ok(tmp_path, capsys):
    path = tmp_path / "biztrace.yaml"
    path.write_text("rules:\n  - {name: ByChannel, kind: stuck_count, threshold: 1, by: [channel]}\n"
                    "receivers:\n  - {name: default, webhook: {url: 'https://ops.example.com/hook'}}\n")  # fmt: skip
    assert main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"OK: {path}: ") and "1 channels" in out[0]
    assert main(["config", "check", str(path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["valid"] is True and document["problems"] == [] and document["rules"] == 9


def test_unreadable_or_invalid_yaml_is_a_problem_too(tmp_path, capsys):
    assert main(["config", "check", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml: (file): cannot read the configuration" in capsys.readouterr().out
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [1\n")
    assert main(["config", "check", str(broken), "--json"]) == 2
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert problem["file"] == str(broken) and problem["line"] == 2 and problem["problem"].startswith("not valid YAML")


def test_alerts_evaluate_with_a_bad_receiver_is_one_error_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "biztrace.yaml"
    path.write_text("route: {receiver: ops}\nreceivers:\n  - name: ops\n    webhook: {timeout_s: 3}\n")
    code = main(["alerts", "evaluate", "--config", str(path), "--store", f"chdb://{tmp_path}/never-opened"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip() == f"biztrace: {path}:4: receivers.0.webhook.0.url: Field required"
