"""The alert loop's exceptions.

AlertsError
└── ChannelError    a notification could not be sent; says whether a retry can help (alerts.channels.base)

Configuration errors are :class:`biztrace.config.errors.ConfigError`; a missing exception or
silence and a refused query are :mod:`biztrace.readmodel.errors`.
"""

from __future__ import annotations


class AlertsError(Exception):
    """Base of every error the alert loop raises on purpose."""
