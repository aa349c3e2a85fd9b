"""The read model's exceptions.

ReadModelError
├── NotFound        an exception or silence that does not exist
└── QueryError      ClickHouse refused a query
"""

from __future__ import annotations


class ReadModelError(Exception):
    """Base of every error the read model raises on purpose."""


class NotFound(ReadModelError):
    """The thing asked for does not exist."""


class QueryError(ReadModelError):
    """A query failed in ClickHouse."""
