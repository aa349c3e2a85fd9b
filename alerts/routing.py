"""Which receiver gets an alert, how alerts are grouped, and which are inhibited.

The routing tree follows Alertmanager's ``dispatch/route.go``: an alert walks down from
the root; the first matching child takes it (all matching children with ``continue``);
a child inherits every option it does not set; when no child matches, the node itself
is the route.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from biztrace.config import InhibitRule, Route
from biztrace.config.silences import matches
from biztrace.readmodel.models import AlertInstance, inhibitor

DEFAULT_GROUP_WAIT = timedelta(seconds=30)
DEFAULT_GROUP_INTERVAL = timedelta(minutes=5)
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)


@dataclass(frozen=True)
class RouteOptions:
    """A route with everything inherited filled in."""

    receiver: str
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if "..." in self.group_by:
            return dict(labels)
        return {name: labels.get(name, "") for name in self.group_by}


def _inherit(route: Route, parent: RouteOptions | None) -> RouteOptions:
    def pick(value, inherited, default):
        return value if value is not None else inherited if parent is not None else default

    return RouteOptions(
        receiver=pick(route.receiver, parent.receiver if parent else None, "default"),
        group_by=tuple(pick(route.group_by, parent.group_by if parent else None, ["alertname"])),
        group_wait=pick(route.group_wait, parent.group_wait if parent else None, DEFAULT_GROUP_WAIT),
        group_interval=pick(route.group_interval, parent.group_interval if parent else None, DEFAULT_GROUP_INTERVAL),
        repeat_interval=pick(
            route.repeat_interval, parent.repeat_interval if parent else None, DEFAULT_REPEAT_INTERVAL
        ),
    )


def routes_for(labels: dict[str, str], root: Route) -> list[RouteOptions]:
    """The routes an alert with these labels takes (one, or several with ``continue``)."""

    def walk(route: Route, parent: RouteOptions | None) -> list[RouteOptions]:
        options = _inherit(route, parent)
        found: list[RouteOptions] = []
        for child in route.routes:
            if matches(child.matchers, labels):
                found.extend(walk(child, options))
                if not child.continue_:
                    break
        return found or [options]

    return walk(root, None)


def inhibited(alert: AlertInstance, firing: list[AlertInstance], rules: list[InhibitRule]) -> bool:
    """Whether a firing source alert inhibits this one (a higher severity masks a lower)."""
    return inhibitor(alert, firing, rules) is not None
