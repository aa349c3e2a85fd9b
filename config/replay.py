"""Replay targets: how to ask the middleware to resubmit a transaction that is in trouble.

A target names which exceptions it serves (process, system, exception kind; an unset field
matches any) and an HTTP request template: method, URL, headers and a JSON body. Templates
take the transaction's placeholders (:data:`PLACEHOLDERS`, written ``{key}``) anywhere, and
environment variables (``${MW_TOKEN}``) in the URL and the headers only. Variables are resolved
when the request is sent (:meth:`ReplayTarget.render`), never when the file is loaded, so a
secret is neither stored nor printed: what is kept of a request is its template.

Example (YAML, under ``replay:``)::

    - name: erp_resubmit
      process: order_to_cash
      system: erp
      kind: failed
      method: POST
      url: https://mw.example.com/api/messages/{key}/resubmit
      headers: {Authorization: "Bearer ${MW_TOKEN}"}
      body: {order: "{key}", stage: "{stage}", requested_by: "biztrace", request: "{request_id}"}
      timeout_s: 10
      roles: [on-call, admin]
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from biztrace.config.receivers import MAX_TIMEOUT_S, check_http_url
from biztrace.config.roles import Role

ExceptionKind = Literal["stuck", "failed", "duplicate", "dead_letter", "mismatch"]
PLACEHOLDERS = ("process", "key", "kind", "stage", "system", "event_id", "request_id")
"""What a template may name in braces; each becomes the transaction's value ('' when unknown)."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_EITHER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class MissingVariable(ValueError):
    """An environment variable a template names is not set (the message names it, nothing else)."""


def _placeholders(text: str, where: str, variables: bool) -> None:
    if not variables and _VARIABLE.search(text):
        raise ValueError(f"{where}: environment variables (${{NAME}}) go in the url and headers only")
    unknown = sorted({name for name in _PLACEHOLDER.findall(_VARIABLE.sub("", text)) if name not in PLACEHOLDERS})
    if unknown:
        raise ValueError(f"{where}: unknown placeholder {{{unknown[0]}}}; one of " + ", ".join(PLACEHOLDERS))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [str(key), *_strings(item)]]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


@dataclass(frozen=True)
class RenderedRequest:
    """A request ready to send, secrets resolved: never stored, logged or printed (``repr`` hides them).

    ``display_url`` is the URL template (variables unresolved), for messages and the audit trail.
    """

    method: str
    url: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    body: bytes | None = field(repr=False)
    timeout_s: float
    display_url: str
    secrets: tuple[str, ...] = field(repr=False, default=())


class ReplayTarget(BaseModel):
    """Where and how to ask for one kind of exception's transaction to be replayed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$", description="names the target in the audit trail")
    process: str | None = Field(None, description="the process it serves (unset: any)")
    system: str | None = Field(None, description="the system at fault it serves (unset: any)")
    kind: ExceptionKind | None = Field(None, description="the exception kind it serves (unset: any)")
    method: Literal["POST", "PUT", "PATCH", "GET", "DELETE"] = "POST"
    url: str = Field(description="the resubmit endpoint; placeholders and ${ENV} variables allowed")
    headers: dict[str, str] = Field(default_factory=dict, description="placeholders and ${ENV} variables allowed")
    body: dict[str, Any] | list[Any] | None = Field(
        None, description="JSON body; placeholders in its strings are replaced (values stay JSON-escaped)"
    )
    timeout_s: float = Field(10.0, gt=0, le=MAX_TIMEOUT_S, description="whole-request deadline in seconds")
    roles: list[Role] = Field(default_factory=lambda: ["on-call", "admin"], min_length=1,
                              description="who may request a replay through it")  # fmt: skip

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        _placeholders(url, "url", variables=True)
        if not url.startswith("${"):  # a variable holding the base URL is checked when it is resolved
            check_http_url(_VARIABLE.sub("x", _PLACEHOLDER.sub("x", url)))
        return url.strip()

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            if name.lower() in ("content-length", "host"):
                raise ValueError(f"header {name!r} is set by the sender")
            _placeholders(value, f"header {name}", variables=True)
        return headers

    @field_validator("body")
    @classmethod
    def _body(cls, body: dict[str, Any] | list[Any] | None) -> dict[str, Any] | list[Any] | None:
        for text in _strings(body):
            _placeholders(text, "body", variables=False)
        return body

    def serves(self, process: str, system: str, kind: str) -> int:
        """How specifically it serves an exception: -1 not at all, else the number of fields that matched."""
        score = 0
        for wanted, actual in ((self.process, process), (self.system, system), (self.kind, kind)):
            if wanted is not None:
                if wanted != actual:
                    return -1
                score += 1
        return score

    def variables(self) -> list[str]:
        """The environment variables it needs, in order of appearance."""
        names = [name for text in [self.url, *self.headers.values()] for name in _VARIABLE.findall(text)]
        return list(dict.fromkeys(names))

    def render(self, values: Mapping[str, str], environ: Mapping[str, str]) -> RenderedRequest:
        """The request for one transaction: placeholders filled from ``values``, variables from ``environ``.

        Placeholder values are percent-encoded in the URL and JSON-escaped in the body. Pure: no I/O.

        Raises:
            MissingVariable: a variable is not set in ``environ``.
            ValueError: the resolved URL is not an http(s) URL, or a header would carry a line break.
        """
        secrets = []
        for name in self.variables():
            if not environ.get(name):
                raise MissingVariable(f"replay target {self.name!r}: environment variable {name} is not set")
            secrets.append(environ[name])

        def fill(text: str, encode: bool = False) -> str:
            # one pass, so a value (a key comes from the spans) is never read as a template again
            def one(match: re.Match[str]) -> str:
                if match.group(1) is not None:
                    return environ[match.group(1)]
                value = values.get(match.group(2), "")
                return urllib.parse.quote(value, safe="") if encode else value

            return _EITHER.sub(one, text)

        url = fill(self.url, encode=True)
        try:
            check_http_url(url)
        except ValueError as exc:
            raise ValueError(f"replay target {self.name!r}: the url {exc}") from None
        headers = {name: fill(value) for name, value in self.headers.items()}
        if any(ch in value for value in headers.values() for ch in "\r\n"):
            raise ValueError(f"replay target {self.name!r}: a header value would contain a line break")
        body = None
        if self.body is not None:
            body = json.dumps(_fill_json(self.body, values)).encode()
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        return RenderedRequest(method=self.method, url=url, headers=headers, body=body, timeout_s=self.timeout_s,
                               display_url=self.url, secrets=tuple(secrets))  # fmt: skip


def _fill_json(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), value)
    if isinstance(value, dict):
        return {_fill_json(key, values): _fill_json(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill_json(item, values) for item in value]
    return value


def choose(targets: list[ReplayTarget], process: str, system: str, kind: str) -> ReplayTarget | None:
    """The most specific target serving an exception (the first listed among equals), or None."""
    best: ReplayTarget | None = None
    best_score = -1
    for target in targets:
        score = target.serves(process, system, kind)
        if score > best_score:
            best, best_score = target, score
    return best
