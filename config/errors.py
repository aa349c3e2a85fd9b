"""The configuration's one exception."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration is invalid; the message is ready for a person (``file:line: field: problem``)."""
