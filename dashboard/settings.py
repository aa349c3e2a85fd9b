"""The dashboard's options: one model for flags, ``BIZTRACE_*`` variables and the app itself.

``biztrace dashboard`` (and ``biztrace up``) hand the options to the Streamlit script through
the environment, so the script, a test's AppTest and a deployment read them the same way.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from biztrace.store.options import StoreOptions


class DashboardSettings(StoreOptions):
    """Where the dashboard reads from, who may sign in, and how it refreshes."""

    config: Path | None = Field(None, description="process/SLA/rule YAML (defaults: the built-in one)")
    users_file: Path | None = Field(
        None,
        description="YAML of local users with hashed passwords and roles (biztrace user add); "
        "not needed when an OIDC provider is configured in .streamlit/secrets.toml",
    )
    refresh_s: int = Field(30, ge=5, description="how often live figures refresh (seconds)")
    dashboard_host: str = Field("127.0.0.1", description="address the dashboard listens on")
    dashboard_port: int = Field(8501, ge=0, le=65535, description="port the dashboard listens on")

    def environment(self) -> dict[str, str]:
        """These options as ``BIZTRACE_*`` variables, for the Streamlit script's process."""
        values = {
            "BIZTRACE_STORE": self.store,
            "BIZTRACE_REFRESH_S": str(self.refresh_s),
        }
        if self.config is not None:
            values["BIZTRACE_CONFIG"] = str(Path(self.config).resolve())
        if self.users_file is not None:
            values["BIZTRACE_USERS_FILE"] = str(Path(self.users_file).resolve())
        return values
