"""The configuration's one exception, and the problems it carries."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration, where it is."""

    file: str
    line: int | None
    field: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.problem}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class ConfigError(Exception):
    """The configuration is invalid; the message is ready for a person (``file:line: field: problem``).

    Args:
        message: every problem, one per line.
        problems: the same, structured (empty when the error is not about fields, e.g. bad YAML).
    """

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])
