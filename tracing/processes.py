"""Known processes and their stages, so a hop can reject an unknown stage early.

The defaults are those of ``shared/CONVENTIONS.md``; ``register_process`` adds or replaces
one (the alerts configuration is the source of truth for SLAs; this is only the vocabulary).
A process that was never registered is accepted as it is.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_processes: dict[str, tuple[str, ...]] = {
    "order_to_cash": (
        "order.captured",
        "order.accepted",
        "inventory.allocated",
        "shipment.confirmed",
        "invoice.posted",
        "payment.received",
    ),  # fmt: skip
    "returns": (
        "return.authorized",
        "return.received",
        "return.inspected",
        "return.dispositioned",
        "credit_memo.posted",
    ),  # fmt: skip
    "customer_master": ("customer.updated", "customer.validated", "customer.synced"),
}


def register_process(name: str, stages: list[str] | tuple[str, ...]) -> None:
    """Declare a process's stages, e.g. ``register_process("procure_to_pay", ["po.created", ...])``."""
    if not name or not stages:
        raise ValueError("a process needs a name and at least one stage")
    with _lock:
        _processes[name] = tuple(stages)


def stages_of(process: str) -> tuple[str, ...] | None:
    """The stages of a registered process, or None when it is not registered."""
    return _processes.get(process)
