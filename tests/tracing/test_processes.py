"""Issue 13: a hop never loses a key, amount, quantity or system, and is checked against the
configured processes (the server's YAML, or none), never against a list written in code."""

from __future__ import annotations

import logging
import textwrap

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from biztrace import tracing
from biztrace.tracing import HopValidationError, ProcessesFileError, hop, processes

RETURN = {"system": "wms", "return_id": "R-1", "order_id": "O-1", "quantity": 3}
RECORDED = {"biz.stage": "return.received", "biz.process": "returns", "biz.system": "wms", "return.id": "R-1",
            "order.id": "O-1", "biz.quantity": 3.0}  # fmt: skip

# A server configuration file (config/defaults.yaml's format): returns gains a stage, a new
# process shares a stage name with another one.
SERVER_YAML = textwrap.dedent("""\
    evaluation_interval: 1m
    processes:
      returns:
        key: return.id
        completes_at: credit_memo.posted
        stages:
          - name: return.authorized
          - name: return.approved
            system: erp
            sla: {within: 1d}
          - name: return.received
          - name: return.inspected
          - name: return.dispositioned
          - name: credit_memo.posted
      procure_to_pay:
        key: order.id
        stages:
          - name: po.created
          - name: goods.received
      consignment:
        key: order.id
        stages:
          - name: goods.received
          - name: consignment.settled
    rules:
      - {name: ReturnsStuck, kind: stuck_count, process: returns, threshold: 3, for: 5m, severity: warning,
         summary: "{value:.0f} returns stuck"}
""")


@pytest.fixture
def server_yaml(tmp_path):
    path = tmp_path / "biztrace.yaml"
    path.write_text(SERVER_YAML)
    return path


def attributes(spans) -> dict:
    [span] = spans.finished()
    return dict(span.attributes)


def test_a_hop_without_process_keeps_every_attribute_and_is_placed_by_its_stage(spans):
    with hop("return.received", tracer=spans.tracer, **RETURN):
        pass
    assert attributes(spans) == RECORDED


def test_without_configuration_no_stage_is_unknown(spans, development):
    with hop("po.created", system="erp", order_id="PO-1", amount=12.5, tracer=spans.tracer):
        pass  # in no built-in process: left for the server to place
    with hop("order.teleported", process="order_to_cash", order_id="O-2", tracer=spans.tracer):
        pass  # an explicit process is recorded as given
    created, teleported = (dict(span.attributes) for span in spans.finished())
    assert created == {"biz.stage": "po.created", "biz.system": "erp", "order.id": "PO-1", "biz.amount": 12.5}
    assert teleported == {"biz.stage": "order.teleported", "biz.process": "order_to_cash", "order.id": "O-2"}


@pytest.mark.parametrize("how", ["configure", "BIZTRACE_PROCESSES_FILE", "BIZTRACE_CONFIG"])
def test_a_stage_added_in_the_yaml_is_placed_and_accepted(spans, development, server_yaml, monkeypatch, how):
    if how == "configure":
        tracing.configure("wms", provider=TracerProvider(), span_exporter=InMemorySpanExporter(),
                          processes_file=server_yaml)  # fmt: skip
    else:
        monkeypatch.setenv(how, str(server_yaml))
    with hop("return.approved", tracer=spans.tracer, **RETURN):
        pass
    assert attributes(spans) == {**RECORDED, "biz.stage": "return.approved"}


def test_the_processes_are_those_the_server_reads(server_yaml):
    from biztrace import config

    assert processes.BUILT_IN == {name: tuple(p.stage_names()) for name, p in config.load().processes.items()}
    server = {name: tuple(p.stage_names()) for name, p in config.load(server_yaml).processes.items()}
    assert dict(tracing.load_processes(server_yaml).processes) == server


def test_a_stage_its_process_lacks_drops_only_the_process(spans, server_yaml, caplog):
    tracing.load_processes(server_yaml)
    with caplog.at_level(logging.WARNING, logger="biztrace.tracing.api"):
        with hop("return.received", process="order_to_cash", tracer=spans.tracer, **RETURN):
            pass
    assert attributes(spans) == {**{k: v for k, v in RECORDED.items() if k != "biz.process"},
                                 "biztrace.dropped": ("biz.process",)}  # fmt: skip
    assert "is not a stage of order_to_cash" in caplog.text and "not biz.process" in caplog.text


def test_a_process_not_configured_drops_only_the_process(spans, server_yaml):
    tracing.load_processes(server_yaml)
    with hop("goods.received", process="procurement", system="wms", order_id="PO-9", amount=40.0,
             tracer=spans.tracer):  # fmt: skip
        pass
    assert attributes(spans) == {"biz.stage": "goods.received", "biz.system": "wms", "order.id": "PO-9",
                                 "biz.amount": 40.0, "biztrace.dropped": ("biz.process",)}  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"stage": "return.received", "process": "order_to_cash"}, "is not a stage of order_to_cash"),
        ({"stage": "goods.received", "process": "procurement"}, "is not a configured process"),
        ({"stage": "goods.received"}, "belongs to procure_to_pay, consignment: pass process="),
        ({"stage": "order.teleported"}, "is not a stage of any configured process"),
    ],
)
def test_configured_processes_are_checked_in_development(spans, development, server_yaml, arguments, problem):
    tracing.load_processes(server_yaml)
    with pytest.raises(HopValidationError, match=problem):
        with hop(tracer=spans.tracer, order_id="O-1", **arguments):
            pass
    assert spans.finished() == ()


def test_a_shared_stage_without_process_is_recorded_without_guessing(spans, server_yaml, caplog):
    tracing.load_processes(server_yaml)
    with caplog.at_level(logging.WARNING, logger="biztrace.tracing.api"):
        with hop("goods.received", system="wms", order_id="PO-3", quantity=5, tracer=spans.tracer):
            pass
    assert attributes(spans) == {"biz.stage": "goods.received", "biz.system": "wms", "order.id": "PO-3",
                                 "biz.quantity": 5.0}  # fmt: skip
    assert "belongs to procure_to_pay, consignment" in caplog.text


def test_invalid_attributes_are_named_and_the_others_recorded(spans, caplog):
    with caplog.at_level(logging.WARNING, logger="biztrace.tracing.api"):
        with hop("order.accepted", system="erp", order_id="O-4", customer_id=" ", amount=99.0, quantity=-1,
                 currency="euro", colour="red", tracer=spans.tracer):  # fmt: skip
            pass
    recorded = attributes(spans)
    assert recorded.pop("biztrace.dropped") == ("customer.id", "biz.currency", "biz.quantity", "colour")
    assert recorded == {"biz.stage": "order.accepted", "biz.process": "order_to_cash", "biz.system": "erp",
                        "order.id": "O-4", "biz.amount": 99.0}  # fmt: skip
    assert "invalid attributes" in caplog.text and "not customer.id, biz.currency, biz.quantity" in caplog.text


def test_an_invalid_stage_keeps_the_keys(spans):
    with hop("", system="wms", shipment_id="SH-1", order_id="O-5", quantity=2, tracer=spans.tracer):
        pass
    [span] = spans.finished()
    assert dict(span.attributes) == {"biz.system": "wms", "shipment.id": "SH-1", "order.id": "O-5",
                                     "biz.quantity": 2.0, "biztrace.dropped": ("biz.stage",)}  # fmt: skip
    assert span.name == "wms.hop"


def test_loading_a_file_applies_to_hops_already_cached(spans, server_yaml):
    for _ in range(2):  # the second call takes the cached path
        with hop("return.approved", tracer=spans.tracer, **RETURN):
            pass
    tracing.load_processes(server_yaml)
    with hop("return.approved", tracer=spans.tracer, **RETURN):
        pass
    assert ["biz.process" in span.attributes for span in spans.finished()] == [False, False, True]


def test_a_bad_file_is_one_line_when_given_and_a_warning_from_the_environment(spans, tmp_path, monkeypatch,
                                                                             caplog):  # fmt: skip
    bad = tmp_path / "bad.yaml"
    bad.write_text("processes:\n  returns:\n    stages: []\n")
    with pytest.raises(ProcessesFileError, match=r"bad.yaml: processes.returns.stages: List should have at least"):
        tracing.configure("wms", provider=TracerProvider(), span_exporter=InMemorySpanExporter(), processes_file=bad)
    with pytest.raises(ProcessesFileError, match="missing.yaml: cannot read"):
        tracing.load_processes(tmp_path / "missing.yaml")
    monkeypatch.setenv("BIZTRACE_CONFIG", str(bad))
    tracing.load_processes(None)
    with caplog.at_level(logging.WARNING, logger="biztrace.tracing.processes"):
        with hop("return.received", tracer=spans.tracer, **RETURN):
            pass
    assert attributes(spans) == RECORDED and "not checked against any process" in caplog.text


def test_an_unhashable_argument_is_dropped_not_raised(spans):
    for _ in range(2):
        with hop("order.accepted", system=["erp"], order_id="O-6", amount=1.5, tracer=spans.tracer):
            pass
    assert [dict(span.attributes) for span in spans.finished()] == [
        {"biz.stage": "order.accepted", "biz.process": "order_to_cash", "order.id": "O-6", "biz.amount": 1.5,
         "biztrace.dropped": ("biz.system",)}] * 2  # fmt: skip
