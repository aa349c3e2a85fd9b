"""OTLP/HTTP on ``/v1/traces`` (protobuf and JSON, gzip, chunked), plus /healthz and /metrics.

Status codes follow the OTLP specification: 200 with ``partial_success`` when some spans
were rejected, 400 for a body that is not OTLP, 401 without the bearer token, 413 for a
body over the limit after decompression, 415 for an unknown content type or encoding,
429 (queue full) and 503 (store not committing) with ``Retry-After``. Error bodies are a
``google.rpc.Status`` in the request's encoding.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable

from aiohttp import web
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from biztrace.collector.errors import DecodeError, Overloaded, PayloadTooLarge, StoreUnavailable
from biztrace.collector.receiver import Encoding, Receiver

logger = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
_TYPES: dict[str, Encoding] = {"application/x-protobuf": "protobuf", "application/json": "json"}
_ENCODINGS = {"", "identity", "gzip", "deflate"}


def _reply(encoding: Encoding, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = status_pb2.Status(code=_grpc_code(status), message=message)
    if encoding == "json":
        return web.json_response({"code": body.code, "message": message}, status=status, headers=headers)
    return web.Response(
        body=body.SerializeToString(), status=status, content_type="application/x-protobuf", headers=headers
    )


def _grpc_code(status: int) -> int:
    return {400: 3, 401: 16, 408: 4, 413: 8, 415: 3, 429: 8, 503: 14}.get(status, 2)


def _success(encoding: Encoding, rejected: int, message: str) -> web.Response:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if encoding == "json":
        return web.Response(text=json_format.MessageToJson(response, indent=None), content_type="application/json")
    return web.Response(body=response.SerializeToString(), content_type="application/x-protobuf")


_WBITS = {"gzip": 31, "deflate": 15}


async def _read_body(request: web.Request, encoding: str, limit: int, take: Callable[[int], None]) -> bytes:
    """Read (and inflate) the body, never holding more than ``limit`` bytes of output.

    ``take(n)`` is called before ``n`` more bytes are kept (the receivers' shared byte budget);
    it raises :class:`Overloaded` to stop the read.
    """
    inflater = zlib.decompressobj(_WBITS[encoding]) if encoding in _WBITS else None
    body = bytearray()
    try:
        async for chunk in request.content.iter_chunked(1 << 16):
            if inflater is not None:
                chunk = inflater.decompress(chunk, limit + 1 - len(body))
                if inflater.unconsumed_tail:
                    raise PayloadTooLarge(f"request body exceeds {limit} bytes after decompression")
            take(len(chunk))
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(f"request body exceeds {limit} bytes after decompression")
        if inflater is not None:
            body += inflater.flush()
            if not inflater.eof:
                raise DecodeError(f"the {encoding} stream is truncated")
    except zlib.error as exc:
        raise DecodeError(f"body could not be decompressed as {encoding} ({exc})") from exc
    if len(body) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes after decompression")
    return bytes(body)


MAX_REQUEST_LINE_BYTES = 64 << 10
"""Room in the request line for any key a span can carry (an attribute value, percent-encoded)."""


def make_runner(app: web.Application, idle_timeout_s: float = 15.0) -> web.AppRunner:
    """The runner for :func:`build_app`: decompression is ours, so limits apply after it.

    A connection that has not sent a complete request head within ``idle_timeout_s`` of its
    start or of its last answer (slow headers, an idle keep-alive) is closed: aiohttp's
    keep-alive timer covers both.
    """
    return web.AppRunner(
        app,
        access_log=None,
        shutdown_timeout=5,
        auto_decompress=False,
        keepalive_timeout=idle_timeout_s,
        max_line_size=MAX_REQUEST_LINE_BYTES,
    )


KEYS_PATH = "/api/v1/keys/{key:.+}"
"""Read-only lookup of one business key (any characters, percent-encoded), for processes that
cannot open the embedded store.
Business data: with a token set it answers only requests that carry it (so does /metrics)."""

MAX_LOOKUP_LIMIT = 10_000
"""The most hops one key lookup returns, whatever ``limit`` asks."""


def build_app(
    receiver: Receiver, lookup: Callable[[str, int], BaseModel] | None = None, read_timeout_s: float = 60.0
) -> web.Application:
    """The aiohttp application serving OTLP/HTTP, health, metrics and (given ``lookup``) key lookups.

    ``lookup(key, limit)`` is supplied by the process wiring (the read model's key history); the
    collector itself knows nothing of business facts. Every route but ``/healthz`` requires the
    receiver's bearer token when it has one; ``/healthz`` tells only whether the collector accepts.
    The token is checked before a byte of the body is read (or inflated); a body not received
    within ``read_timeout_s`` is answered 408.
    """

    async def export(request: web.Request) -> web.StreamResponse:
        content_type = request.content_type.lower()
        encoding = _TYPES.get(content_type)
        metrics = receiver.metrics
        if encoding is None:
            metrics.requests.labels("http", "unsupported_media_type").inc()
            return _reply(
                "json",
                415,
                f"unsupported Content-Type {content_type!r}: use application/x-protobuf or application/json",
            )
        if not receiver.authorized(request.headers.get("Authorization")):
            metrics.requests.labels("http", "unauthenticated").inc()
            return _reply(encoding, 401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        content_encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if content_encoding not in _ENCODINGS:
            metrics.requests.labels("http", "unsupported_media_type").inc()
            return _reply(encoding, 415, f"unsupported Content-Encoding {content_encoding!r}: use gzip or none")
        held = 0

        def take(size: int) -> None:
            nonlocal held
            receiver.budget.take(size)
            held += size

        try:
            async with asyncio.timeout(read_timeout_s):
                body = await _read_body(request, content_encoding, receiver.max_body_bytes, take)
            accepted = receiver.receive(body, encoding, "http")
            await asyncio.wrap_future(accepted.committed)
        except TimeoutError:
            metrics.requests.labels("http", "timeout").inc()
            message = f"request body not received within {read_timeout_s:g}s"
            return _reply(encoding, 408, message, {"Connection": "close"})
        except PayloadTooLarge as exc:
            metrics.requests.labels("http", "too_large").inc()
            return _reply(encoding, 413, str(exc), {"Connection": "close"})
        except DecodeError as exc:
            metrics.requests.labels("http", "bad_request").inc()
            return _reply(encoding, 400, str(exc))
        except Overloaded as exc:
            metrics.requests.labels("http", "overloaded").inc()
            return _reply(encoding, 429, str(exc), {"Retry-After": str(exc.retry_after_s)})
        except StoreUnavailable as exc:
            metrics.requests.labels("http", "unavailable").inc()
            return _reply(encoding, 503, str(exc), {"Retry-After": str(exc.retry_after_s)})
        except Exception:  # never a traceback to the client; the log has it
            logger.exception("unexpected error handling an OTLP/HTTP request")
            metrics.requests.labels("http", "error").inc()
            return _reply(encoding, 500, "internal error; see the collector's log")
        finally:
            receiver.budget.give_back(held)
        metrics.requests.labels("http", "partial" if accepted.intake.rejected else "ok").inc()
        return _success(encoding, accepted.intake.rejected, accepted.intake.error_message())

    def denied(request: web.Request) -> web.Response | None:
        """401 for a read route without the bearer token (when one is set), else None."""
        if receiver.authorized(request.headers.get("Authorization")):
            return None
        receiver.metrics.requests.labels("http", "unauthenticated").inc()
        return web.json_response(
            {"message": "missing or wrong bearer token"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )

    async def healthz(request: web.Request) -> web.Response:
        # open to anyone (load balancers, compose): says healthy or not, nothing else
        if receiver.batcher.accepting:
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "unavailable"}, status=503)

    async def metrics_endpoint(request: web.Request) -> web.Response:
        if (refused := denied(request)) is not None:
            return refused
        payload = generate_latest(receiver.metrics.registry)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def key_lookup(request: web.Request) -> web.Response:
        if (refused := denied(request)) is not None:
            return refused
        try:
            limit = int(request.query.get("limit", str(MAX_LOOKUP_LIMIT)))
        except ValueError:
            return web.json_response({"message": "limit must be an integer"}, status=400)
        limit = max(1, min(limit, MAX_LOOKUP_LIMIT))
        loop = asyncio.get_running_loop()
        history = await loop.run_in_executor(None, lookup, request.match_info["key"], limit)
        return web.Response(text=history.model_dump_json(), content_type="application/json")

    # aiohttp's own cap sits above ours so that our handler answers with the clear message
    app = web.Application(client_max_size=receiver.max_body_bytes + (1 << 20))
    app.router.add_post(TRACES_PATH, export)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_endpoint)
    if lookup is not None:
        app.router.add_get(KEYS_PATH, key_lookup)
    return app
