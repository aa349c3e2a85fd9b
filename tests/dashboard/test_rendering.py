"""Strings that people or spans supply (keys, systems, error types, what was typed) are shown as
text: never as a link, an image, a colour or HTML (issue 14, item 4).

Streamlit renders markdown in the browser, so AppTest holds the markdown source; these tests
parse it as CommonMark and check that a hostile key only ever appears inside a code span.
"""

from __future__ import annotations

import time

from markdown_it import MarkdownIt
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode
from streamlit.testing.v1 import AppTest

from biztrace.dashboard import ui
from biztrace.readmodel.lookup import key_history

LINK = "[Your session expired](http://evil)"
IMAGE = "![x](http://beacon/x.png)"
MARKDOWN_ELEMENTS = ("markdown", "caption", "warning", "success", "error", "info", "subheader", "title", "header")


def _markdown_sources(at: AppTest) -> list[str]:
    """Every markdown source on the page: text elements, and widget and metric labels."""
    sources = [element.value for kind in MARKDOWN_ELEMENTS for element in at.get(kind)]
    sources += [button.label for button in at.button]
    sources += [metric.label for metric in at.metric]
    return [str(source) for source in sources]


def _outside_code(source: str) -> list[str]:
    """What CommonMark makes of ``source`` outside code spans: links, images, HTML and plain text."""
    found = []
    for block in MarkdownIt("commonmark").parse(source):
        for token in block.children or []:
            if token.type in ("link_open", "image", "html_inline"):
                found.append(f"{token.type}:{token.attrs}")
            elif token.type == "text":
                found.append(token.content)
        if block.type == "html_block":
            found.append(f"html_block:{block.content}")
    return found


def _assert_shown_as_text(at: AppTest, hostile: str) -> None:
    sources = _markdown_sources(at)
    assert any(hostile in source for source in sources), f"{hostile!r} is shown literally"
    for source in sources:
        rendered = _outside_code(source)
        assert not [part for part in rendered if part.startswith(("link_open", "image", "html"))], source
        assert not [part for part in rendered if "http://" in part], f"a bare URL would be autolinked: {source}"


def test_literal_is_a_code_span_whatever_the_text() -> None:
    for text in (LINK, IMAGE, "a `tick` inside", "``two``", "<img src=x onerror=alert(1)>", ":red[alarm] $x$"):
        tokens = MarkdownIt("commonmark").parse(ui.literal(text))[1].children
        assert [t.type for t in tokens] == ["code_inline"] and tokens[0].content == text, text
    assert ui.literal("") == ""


def test_an_unknown_hostile_key_in_a_shared_link_is_shown_as_text(app) -> None:
    for hostile in (LINK, IMAGE):
        at = app("support", key=hostile)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("No order, customer, SKU" in w.value for w in at.warning)
        _assert_shown_as_text(at, hostile)


def test_a_hostile_key_and_system_stored_in_spans_are_shown_as_text(app, start_collector, monkeypatch) -> None:
    collector = start_collector()
    provider = TracerProvider(resource=Resource.create({"service.name": "crm"}))
    endpoint = f"http://127.0.0.1:{collector.ports.http}/v1/traces"
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=30)))
    tracer = provider.get_tracer("test")
    for key in (LINK, IMAGE):
        with tracer.start_as_current_span("order.captured", attributes={"order.id": key, "biz.stage": "order.captured",
                                                                         "biz.system": IMAGE}):  # fmt: skip
            pass
        with tracer.start_as_current_span("erp.accept", attributes={"order.id": key, "error.type": LINK}) as span:
            span.set_status(Status(StatusCode.ERROR))
    provider.shutdown()
    deadline = time.monotonic() + 30
    while not all(len(key_history(collector.store, key).hops) == 2 for key in (LINK, IMAGE)):
        assert time.monotonic() < deadline, "the spans were stored"
        time.sleep(0.2)
    monkeypatch.setenv("BIZTRACE_STORE", collector.settings.store)
    for key in (LINK, IMAGE):
        at = app("support", key=key)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(key in subheader.value for subheader in at.subheader), "the key's page opened"
        _assert_shown_as_text(at, key)
        _assert_shown_as_text(at, IMAGE)  # the system, on the progress line and in the caption
    prefix = app("support", key="![")
    prefix.run()
    assert {b.key for b in prefix.button} >= {f"pick_{IMAGE}"}, "a partial id lists the hostile key"
    _assert_shown_as_text(prefix, IMAGE)
