"""``biztrace config check FILE``: every problem of a configuration file, without running anything.

Exit codes: 0 valid (one line, ``OK``), 2 invalid (one line per problem, ``file:line: field: problem``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import CliApp, CliPositionalArg, CliSubCommand

from biztrace import config as biztrace_config
from biztrace.cli.util import CommandFailed, print_json
from biztrace.config.errors import ConfigError, Problem

EXIT_INVALID = 2


class ConfigCheck(BaseModel):
    """Validate a configuration file merged over the defaults, as the alert loop and dashboard load it.

    Checks every field: processes and SLAs, rules (kinds, durations, the labels of by:),
    routes and inhibit rules (matchers compiled), receivers typed per channel (URLs, keys,
    timeouts), runbooks and references between them.

    Example: biztrace config check biztrace.yaml --json
    """

    file: CliPositionalArg[Path] = Field(description="the YAML file to check")
    json_output: bool = Field(False, validation_alias=AliasChoices("json"), description="print one JSON document")

    def cli_cmd(self) -> None:
        source = str(self.file)
        try:
            loaded = biztrace_config.load(self.file)
        except ConfigError as exc:
            problems = exc.problems or [_unplaced(str(exc), source)]
            if self.json_output:
                print_json({"file": source, "valid": False, "problems": [p.as_dict() for p in problems]})
            else:
                for problem in problems:
                    print(problem)
            count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
            raise CommandFailed(f"{source}: {count}", EXIT_INVALID) from None
        summary = {
            "processes": len(loaded.processes),
            "rules": len(loaded.rules),
            "receivers": len(loaded.receivers),
            "channels": sum(len(receiver.channel_configs()) for receiver in loaded.receivers),
        }
        if self.json_output:
            print_json({"file": source, "valid": True, "problems": [], **summary})
        else:
            print(f"OK: {source}: " + ", ".join(f"{count} {name}" for name, count in summary.items()))


def _unplaced(message: str, source: str) -> Problem:
    """A problem that is not about a field (unreadable file, invalid YAML): its message names the place."""
    where, _, rest = message.partition(": ")
    file, _, line = where.rpartition(":")
    if file and line.isdigit():
        return Problem(file=file, line=int(line), field="(file)", problem=rest)
    return Problem(file=source, line=None, field="(file)", problem=rest if where == source else message)


class ConfigCommand(BaseModel):
    """Check configuration files."""

    check: CliSubCommand[ConfigCheck] = Field(description="every problem of a file, file:line; exit 2 if any")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)
