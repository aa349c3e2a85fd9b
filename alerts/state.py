"""Alert instance lifecycle, as Prometheus computes it: pending -> firing -> resolved.

Pure: the next state comes from the previous one, whether the condition holds now, the
rule's ``for:`` and an injected ``now`` — so tests never sleep.

* A condition that starts holding makes the alert ``pending`` (``firing`` at once when
  ``for`` is zero); it fires once it has held for ``for``.
* A pending alert whose condition clears is dropped without a notification.
* A firing alert whose condition clears is ``resolved``; it is kept for
  ``RESOLVED_RETENTION`` so the resolution is notified, then dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from biztrace.config import Rule
from biztrace.readmodel.models import AlertInstance, AtRisk, TransactionRef
from biztrace.readmodel.rules import RuleResult

RESOLVED_RETENTION = timedelta(minutes=15)


def step(
    previous: AlertInstance | None,
    result: RuleResult | None,
    rule: Rule,
    now: datetime,
    *,
    summary: str = "",
    runbook: str = "",
    at_risk: AtRisk | None = None,
) -> AlertInstance | None:
    """The instance after one evaluation; ``None`` when there is nothing to keep. ``at_risk``: the value
    behind an active alert now (a resolved one keeps the value it had while firing)."""
    active = result is not None and result.active
    if active:
        assert result is not None
        since = previous.active_since if previous and previous.state in ("pending", "firing") else now
        assert since is not None
        state = "firing" if now - since >= rule.for_ else "pending"
        annotations = {"summary": summary} if summary else {}
        if runbook:
            annotations["runbook_url"] = runbook
        transactions = [TransactionRef(process=result.labels.get("process", rule.process or ""), key=key,
                                       kind=_kind(rule), stage=result.labels.get("stage", rule.stage or ""))
                        for key in result.keys]  # fmt: skip
        return AlertInstance(
            rule=rule.name, labels=labels_for(rule, result), annotations=annotations, state=state,
            value=result.value, sample=result.sample, active_since=since, transactions=transactions,
            at_risk=at_risk,
        )  # fmt: skip
    if previous is None:
        return None
    if previous.state == "pending":
        return None
    if previous.state == "firing":
        value, sample = (result.value, result.sample) if result is not None else (previous.value, previous.sample)
        return previous.model_copy(update={"state": "resolved", "resolved_at": now, "value": value, "sample": sample})
    assert previous.resolved_at is not None
    return previous if now - previous.resolved_at < RESOLVED_RETENTION else None


def labels_for(rule: Rule, result: RuleResult) -> dict[str, str]:
    """alertname, severity, the rule's own labels, then the group's labels."""
    labels = {"alertname": rule.name, "severity": rule.severity, **rule.labels}
    labels.update(result.labels)
    return labels


def _kind(rule: Rule) -> str:
    return {
        "stuck_count": "stuck", "stuck_share": "stuck", "sla_adherence": "stuck", "error_rate": "failed",
        "duplicate_rate": "duplicate", "dead_letters": "dead_letter", "mismatch_rate": "mismatch",
        "hop_latency_p95": "latency",
    }[rule.kind]  # fmt: skip


def render_summary(template: str, value: float, sample: int | None = None) -> str:
    """The rule's summary with ``{value...}`` and ``{sample...}`` (what a share counted; "n/a" for a count)
    filled in; a bad template is shown as written."""
    try:
        return template.format(value=value, sample="n/a" if sample is None else sample)
    except (ValueError, KeyError, IndexError):
        return template
