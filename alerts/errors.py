"""The alerts package's exceptions.

AlertsError
├── ConfigError     a configuration file that cannot be used (names file, line, field)
├── NotFound        an exception or silence that does not exist
├── QueryError      ClickHouse refused an evaluation query
└── ChannelError    a notification could not be sent; says whether a retry can help (alerts.channels.base)
"""

from __future__ import annotations


class AlertsError(Exception):
    """Base of every error the alerts package raises on purpose."""


class ConfigError(AlertsError):
    """The configuration is invalid; the message is ready for a person."""


class NotFound(AlertsError):
    """The thing asked for does not exist."""


class QueryError(AlertsError):
    """An evaluation query failed in ClickHouse."""
