"""Process map: the stages as a flow with volumes and median transition times, and the
most common paths, so a leader sees where orders leave the happy path."""

from __future__ import annotations

import streamlit as st

from biztrace.dashboard import charts, data, queries, ui

ui.page_user("process_map")
config = ui.load_config()
filters = ui.current_filters()


@st.cache_data(ttl=600, show_spinner=False, max_entries=16)
def _map(filters_json: str, at) -> queries.ProcessMap:
    return queries.process_map(ui.load_config(), queries.Filters.model_validate_json(filters_json), at)


st.title("Process map")
processes = list(config.processes)
if not filters.process:  # a shared link names the process shown (``?map=returns``)
    ui.url_choice("map", "pm_process", processes, processes[0])
chosen = filters.process or st.segmented_control("Process", processes, key="pm_process")
chosen = chosen or processes[0]
ui.keep_in_url("map", None if filters.process else chosen)  # with a sidebar process filter, that says it
result = _map(filters.model_copy(update={"process": chosen}).model_dump_json(), ui.tick())
transitions = result.transitions[result.transitions["process"] == chosen]
if transitions.empty:
    st.info(f"No {chosen} transactions started in {filters.label()}.")
else:
    st.plotly_chart(charts.process_flow(transitions), width="stretch", key="flow_chart")
    st.caption(
        "Link width: transactions that made the step. Hover a link for the median time it took. "
        "(stuck), (failed), (in_flight) end the paths of transactions that have not finished."
    )
    st.subheader("Most common paths")
    variants = result.variants[result.variants["process"] == chosen].copy()
    total = variants["transactions"].sum()
    variants["share"] = variants["transactions"] / (total or 1)
    variants["median"] = variants["median_s"].map(ui.age)
    st.dataframe(
        variants[["path", "state", "transactions", "share", "median"]],
        hide_index=True,
        width="stretch",
        column_config={"share": st.column_config.ProgressColumn("share", format="percent", min_value=0, max_value=1)},
    )
    st.subheader("Transitions")
    table = transitions.assign(median=transitions["median_s"].map(ui.age))
    st.dataframe(table[["from_stage", "to_stage", "transactions", "median"]], hide_index=True, width="stretch")


@st.cache_data(ttl=600, show_spinner=False, max_entries=16)
def _object_variants(kind: str, since, until) -> list[dict]:
    from biztrace.readmodel.variants import variants

    found = variants(data.store(), ui.load_config(), kind, since, until, top=10)
    return [{"variant": v.path, "stages": len(v.stages), "objects": v.objects, "share": v.share}
            for v in found.variants]  # fmt: skip


def variants_by_object_type(filters: queries.Filters) -> None:
    """The variants of orders, shipments or returns (the chosen object type): each distinct path of
    stages its objects took in the window, with count and share, as process-mining tools show them."""
    st.subheader("Variants by object type")
    kinds = ["order", "shipment", "return"]
    ui.url_choice("object", "pm_object", kinds, "order")
    kind = st.segmented_control("Object type", kinds, key="pm_object") or "order"
    ui.keep_in_url("object", kind, "order")
    at = ui.tick()
    rows = _object_variants(kind, filters.since(at), filters.until(at))
    if not rows:
        st.info(f"No {kind} reached a stage in {filters.label()}.")
        return
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={"share": st.column_config.ProgressColumn("share", format="percent", min_value=0, max_value=1)},
    )
    st.caption(f"Stages of the hops carrying each {kind}'s key, oldest first (a stage repeated in a row counts "
               "once); the ten most frequent, the rest summed as other.")  # fmt: skip


variants_by_object_type(filters)
ui.footer()
