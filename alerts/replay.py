"""The replay sender: delivers a rendered replay request to the middleware's resubmit endpoint.

:func:`send` is the :class:`biztrace.readmodel.replays.Sender` the CLI, the API and the queue
pass to :func:`biztrace.readmodel.replays.request_replay` (the target's template is rendered
there, with the environment's secrets, by :meth:`biztrace.config.replay.ReplayTarget.render`).
It speaks HTTP as the alert channels do (:mod:`biztrace.alerts.channels.base`): the standard
library, redirects never followed, one deadline for the whole request. It never raises for a
failed delivery and never puts a secret in what it returns.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request

from biztrace.alerts.channels.base import Deadline, _opener, scrub
from biztrace.config.replay import RenderedRequest
from biztrace.readmodel.replays import SendResult

_ANSWER_BYTES = 4096
"""How much of an answer is read to find its first line."""


def _first_line(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text.splitlines()[0].strip() if text else ""


def send(request: RenderedRequest) -> SendResult:
    """Send ``request`` once and say what became of it.

    accepted: a 2xx answer; refused: any other status (redirects are not followed), with the
    status and the first line of the body; timed_out: no complete answer within
    ``request.timeout_s`` (connecting, sending and reading all count); failed: no answer at all
    (connection refused, DNS). Blocks the calling thread for at most ``timeout_s``; thread-safe.

    Returns:
        The outcome; ``detail`` is scrubbed of the request's secrets.
    """
    started = time.monotonic()
    outgoing = urllib.request.Request(request.url, data=request.body, method=request.method,
                                      headers={"User-Agent": "biztrace-replay", **request.headers})  # fmt: skip

    def result(outcome: str, status: int | None, detail: str) -> SendResult:
        elapsed = int((time.monotonic() - started) * 1000)
        return SendResult(outcome=outcome, http_status=status, detail=scrub(detail, request.secrets),  # type: ignore[arg-type]
                          elapsed_ms=elapsed)  # fmt: skip

    late = f"no answer within {request.timeout_s:g}s"
    with Deadline(request.timeout_s) as deadline:
        try:
            with _opener(deadline).open(outgoing, timeout=request.timeout_s) as response:
                status, answer = response.status, bytes(response.read(_ANSWER_BYTES))
            if deadline.expired:
                return result("timed_out", None, late)
            return result("accepted" if 200 <= status < 300 else "refused", status, _first_line(answer))
        except urllib.error.HTTPError as exc:
            try:
                answer = exc.read(_ANSWER_BYTES)
            except (OSError, http.client.HTTPException):
                answer = b""
            finally:
                exc.close()
            if deadline.expired:
                return result("timed_out", exc.code, late)
            return result("refused", exc.code, _first_line(answer) or str(exc.reason))
        except Exception as exc:  # urllib's errors hold the request (secrets): only their reason is kept
            reason = getattr(exc, "reason", None)
            if deadline.expired or isinstance(exc, TimeoutError) or isinstance(reason, TimeoutError):
                return result("timed_out", None, late)
            if isinstance(exc, urllib.error.URLError | OSError | http.client.HTTPException):
                return result("failed", None, f"cannot reach {request.display_url}: {reason or exc}")
            raise
