"""Serve the dashboard from this process with Streamlit's own server (what ``streamlit run`` does).

Running the server in-process, rather than spawning ``streamlit run``, is what lets
``biztrace up`` share one embedded store between the collector, the alert loop and the
dashboard: chDB allows one process per data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = Path(__file__).with_name("app.py")
PRIMARY_COLOR = "#1976d2"
"""Widgets and progress bars in blue: red is kept for failures and breaches."""


def serve(host: str, port: int, environment: dict[str, str]) -> None:
    """Block serving the dashboard until SIGINT/SIGTERM; the options reach the app as variables.

    The default window's queries and figures run once meanwhile (:mod:`dashboard.warmup`); the
    warm-up is stopped and waited for before this returns, so the caller may close the store.
    """
    from streamlit import config as streamlit_config
    from streamlit.web import bootstrap

    from biztrace.dashboard.warmup import WarmUp

    os.environ.update(environment)
    flags = {
        "server.address": host,
        "server.port": port,
        "server.headless": True,
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
        "browser.gatherUsageStats": False,
        "client.toolbarMode": "minimal",
        "theme.base": "light",
        "theme.primaryColor": PRIMARY_COLOR,  # Streamlit's default red made every progress bar look failed
    }
    streamlit_config._main_script_path = str(APP)
    bootstrap.load_config_options(flag_options=flags)
    warm_up = WarmUp().start()
    try:
        bootstrap.run(str(APP), False, [], flags)
    finally:
        warm_up.stop()
