"""The processes a hop is checked against: the configured ones, from the YAML the server reads.

Where the configuration comes from, first found:

1. ``configure(..., processes_file=PATH)`` or ``load_processes(PATH)``;
2. the ``BIZTRACE_PROCESSES_FILE`` environment variable, then ``BIZTRACE_CONFIG`` (the
   server's configuration file), read once, at the first hop.

Only the file's ``processes:`` section is read (each process's ``stages:`` names). As the
server does, the built-in processes of ``shared/CONVENTIONS.md`` lie beneath it, and a process
the file declares replaces the built-in one of that name. ``register_process`` adds one in code.

Without a file (and nothing registered) no process is configured and no stage is unknown:
the built-in processes then only name the process of a stage that belongs to exactly one of
them; they never make a hop invalid.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

MODE_ENV = "BIZTRACE_TRACING_MODE"
FILE_ENVS = ("BIZTRACE_PROCESSES_FILE", "BIZTRACE_CONFIG")
"""Environment variables naming the configuration file, in order of precedence."""

BUILT_IN: Mapping[str, tuple[str, ...]] = {
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
"""The server's built-in processes (``config/defaults.yaml``; a test keeps the two equal)."""


class ProcessesFileError(ValueError):
    """The processes file cannot be read or its ``processes:`` section is not valid."""


def mode() -> str:
    """``production`` (default: warn, record what is valid) or ``development`` (raise)."""
    return os.environ.get(MODE_ENV, "production").lower()


class _Stage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1)


class _Process(BaseModel):
    model_config = ConfigDict(extra="ignore")
    stages: list[_Stage] = Field(min_length=1)


class _File(BaseModel):
    """The part of the server's configuration that tracing reads; the rest is the server's."""

    model_config = ConfigDict(extra="ignore")
    processes: dict[str, _Process] = Field(default_factory=dict)


@dataclass(frozen=True)
class Vocabulary:
    """Processes and their stages; ``configured`` says whether they are the authority."""

    processes: Mapping[str, tuple[str, ...]]
    configured: bool
    source: str
    owners: Mapping[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        owners: dict[str, tuple[str, ...]] = {}
        for process, stages in self.processes.items():
            for stage in stages:
                owners[stage] = (*owners.get(stage, ()), process)
        object.__setattr__(self, "owners", owners)


_lock = threading.Lock()
_current: Vocabulary | None = None
_registered: dict[str, tuple[str, ...]] = {}
_file: dict[str, tuple[str, ...]] | None = None
_file_source = ""
_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever the vocabulary changes (the hop's caches)."""
    _listeners.append(listener)


def _set(file: dict[str, tuple[str, ...]] | None, source: str) -> None:
    global _current, _file, _file_source
    with _lock:
        _file, _file_source = file, source
        configured = file is not None or bool(_registered)
        processes = {**BUILT_IN, **(file or {}), **_registered}
        sources = [s for s in (source if file is not None else "", "register_process" if _registered else "") if s]
        _current = Vocabulary(processes, configured, " + ".join(sources) or "built-in (not configured)")
    for listener in _listeners:
        listener()


def read_processes(path: str | Path) -> dict[str, tuple[str, ...]]:
    """The stage names of each process in a configuration file's ``processes:`` section.

    Raises:
        ProcessesFileError: one line naming the file and the problem.
    """
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise ProcessesFileError(f"{path}: cannot read the processes: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ProcessesFileError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ProcessesFileError(f"{path}: the configuration must be a mapping (processes:, ...)")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ProcessesFileError(f"{path}: {where}: {first['msg']}") from None
    return {name: tuple(stage.name for stage in process.stages) for name, process in parsed.processes.items()}


def load_processes(path: str | Path | None) -> Vocabulary:
    """Check hops against the processes of this file (the server's configuration file).

    ``None`` forgets the file: the environment (``BIZTRACE_PROCESSES_FILE``,
    ``BIZTRACE_CONFIG``) is read again at the next hop.

    Raises:
        ProcessesFileError: the file cannot be read or its ``processes:`` are not valid.
    """
    global _current
    if path is None:
        with _lock:
            _current = None
        for listener in _listeners:
            listener()
        return current()
    _set(read_processes(path), str(path))
    return current()


def _from_environment() -> None:
    path = next((os.environ[name] for name in FILE_ENVS if os.environ.get(name)), None)
    if path is None:
        _set(None, "")
        return
    try:
        _set(read_processes(path), path)
    except ProcessesFileError as exc:
        if mode() == "development":
            raise
        logger.warning("biztrace: %s; hops are not checked against any process", exc)
        _set(None, "")


def current() -> Vocabulary:
    """The vocabulary in force (from the environment on first use)."""
    found = _current
    if found is None:
        _from_environment()
        found = _current
    assert found is not None
    return found


def register_process(name: str, stages: list[str] | tuple[str, ...]) -> None:
    """Declare a process's stages in code, e.g. ``register_process("procure_to_pay", ["po.created", ...])``.

    Like a process in the configuration file: it makes the processes the authority.
    """
    if not name or not stages:
        raise ValueError("a process needs a name and at least one stage")
    current()
    with _lock:
        _registered[name] = tuple(stages)
    _set(_file, _file_source)


def stages_of(process: str) -> tuple[str, ...] | None:
    """The stages of a known process (configured, or built in), or None."""
    return current().processes.get(process)


def place(stage: str | None, process: str | None) -> tuple[str | None, str | None]:
    """The process to record for a hop's stage and process, and what is wrong, if anything.

    A process given and consistent is kept; none given, it is the one configured process
    that has the stage (none when no process or several have it: the server infers, or
    reports a shared stage). With processes configured, a process that is not one of
    them or lacks the stage is not recorded (the server places the hop by its stage or key).
    Without configuration, nothing is wrong.
    """
    vocabulary = current()
    if process is not None:
        if not vocabulary.configured:
            return process, None
        stages = vocabulary.processes.get(process)
        if stages is None:
            return None, f"process {process!r} is not a configured process ({', '.join(vocabulary.processes)})"
        if stage is not None and stage not in stages:
            return None, f"stage {stage!r} is not a stage of {process} ({', '.join(stages)})"
        return process, None
    if stage is None:
        return None, None
    owners = vocabulary.owners.get(stage, ())
    if len(owners) == 1:
        return owners[0], None
    if not vocabulary.configured:
        return None, None
    if owners:
        return None, f"stage {stage!r} belongs to {', '.join(owners)}: pass process= (the server never guesses)"
    return None, f"stage {stage!r} is not a stage of any configured process ({', '.join(vocabulary.processes)})"


def _reset() -> None:
    """Forget the file, the registered processes and the environment (tests)."""
    global _current, _file
    with _lock:
        _registered.clear()
        _current, _file = None, None
    for listener in _listeners:
        listener()
