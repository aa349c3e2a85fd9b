"""The process map's variants by object type, through Streamlit's AppTest on the simulated store."""

from __future__ import annotations

from biztrace import config as alerts_config
from biztrace.dashboard import ui
from biztrace.dashboard.queries import Filters
from biztrace.readmodel.variants import variants


def _variants_table(at):
    [table] = [d.value for d in at.dataframe if "variant" in d.value.columns]
    return table


def test_the_process_map_shows_each_object_types_top_variant_and_its_count(app, populated) -> None:
    _, store = populated
    at = app("operations")
    at.run()
    at.switch_page("views/process_map.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Variants by object type" in [s.value for s in at.subheader]
    moment = ui.tick()
    since, until = Filters().since(moment), Filters().until(moment)
    for kind in ("order", "shipment"):
        if kind != "order":
            at.segmented_control(key="pm_object").set_value(kind).run()
            assert at.query_params["object"] == kind  # a shared link opens the same type
        expected = variants(store, alerts_config.load(), kind, since, until)
        top = expected.variants[0]
        assert top.objects > 1 and not top.other, "the simulator's objects share paths"
        table = _variants_table(at)
        assert (table["variant"].iloc[0], table["objects"].iloc[0]) == (top.path, top.objects), kind
        assert table["objects"].sum() == expected.objects
