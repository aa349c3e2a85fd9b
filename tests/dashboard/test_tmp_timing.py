import time

from biztrace import config as alerts_config
from biztrace.dashboard import data, queries, ui


def test_timing(populated):
    _, store = populated
    data.share_store(store)
    cfg = alerts_config.load()
    at = ui.tick()
    f = queries.Filters()
    for _ in range(2):
        t = time.perf_counter()
        queries.overview(cfg, f, at)
        a = time.perf_counter() - t
        t = time.perf_counter()
        queries.previous_sla_trend(cfg, f, at)
        b = time.perf_counter() - t
        t = time.perf_counter()
        queries.overview(cfg, f.model_copy(update={"window": "7d"}), at)
        c = time.perf_counter() - t
        print(f"TIMING overview24h={a * 1000:.0f}ms previous={b * 1000:.0f}ms overview7d={c * 1000:.0f}ms")
    data.share_store(None)
