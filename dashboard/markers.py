"""Status markers that every browser can draw, and the order page's stage strip.

A marker is a plain geometric shape (● ◐ ◆ ▽ ⊘ ✔ ✖ ○) that the common text fonts have (DejaVu
Sans, Liberation, Segoe UI Symbol, Apple's system fonts), coloured by markdown or CSS, and always
followed by a word, so its meaning reads without colour. No emoji: a browser without an emoji font
(Debian's Chromium, many servers' kiosks) draws those as empty boxes.

The stage strip lays the stages of a transaction out as a grid that wraps to more rows when the
page is narrow; a stage name breaks only after a dot (``inventory.`` / ``allocated``), never
inside a word.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

ALERT_MARKERS: dict[str, tuple[str, str]] = {
    "firing": ("●", "red"),
    "pending": ("◐", "orange"),
    "resolved": ("✔", "green"),
    "silenced": ("⊘", "gray"),
    "acknowledged": ("◆", "blue"),
    "inhibited": ("▽", "gray"),
}
"""An alert status's shape and colour (a Streamlit markdown colour name)."""

CSS_COLOURS = {"red": "#ff2b2b", "orange": "#ed7d00", "green": "#21a354", "blue": "#1c83e1", "gray": "#808495"}
"""The markdown colour names as CSS colours that read on the light and the dark theme."""


def alert_status(status: str) -> str:
    """``● firing``: for a table cell (no colour there; the shape differs per status)."""
    shape, _ = ALERT_MARKERS.get(status, ("", ""))
    return f"{shape} {status}".strip()


def alert_status_markdown(status: str) -> str:
    """``:red[●] firing``: the marker coloured, for ``st.markdown`` and ``st.caption``."""
    shape, colour = ALERT_MARKERS.get(status, ("", ""))
    return f":{colour}[{shape}] {status}" if shape else status


@dataclass(frozen=True)
class Stage:
    """One stage of a transaction as the strip shows it.

    ``kind``: ``reached``, ``failed``, ``overdue``, ``due`` or ``ahead`` (not reached yet);
    ``detail``: the line under the name (a time, ``failed: ...``), plain text.
    """

    name: str
    kind: str
    detail: str = ""


STAGE_MARKERS: dict[str, tuple[str, str, str]] = {
    "reached": ("●", "green", "reached"),
    "failed": ("✖", "red", "failed"),
    "overdue": ("●", "orange", "overdue"),
    "due": ("○", "blue", "next, due"),
    "ahead": ("○", "gray", "not reached yet"),
}
"""A stage's shape, colour and the word its tooltip says."""


def breakable(name: str) -> str:
    """``name`` escaped for HTML, each dot-separated part kept whole, a line break allowed after a dot."""
    parts = name.split(".")
    return ".<wbr>".join(f'<span style="white-space:nowrap">{escape(part)}</span>' for part in parts)


def stage_strip(stages: list[Stage]) -> str:
    """The stages as HTML for ``st.html``: a grid of equal cells (as many per row as fit, at least
    7.5rem wide each), each a coloured marker, the stage name in bold and its detail underneath."""
    cells = []
    for stage in stages:
        shape, colour, word = STAGE_MARKERS[stage.kind]
        strong = stage.kind != "ahead"
        name = breakable(stage.name)
        detail = escape(stage.detail)
        under = f'<div style="font-size:0.875rem;overflow-wrap:break-word">{detail}</div>' if detail else ""
        cells.append(
            f'<div class="bt-stage" data-stage="{escape(stage.name)}" data-kind="{stage.kind}" '
            f'title="{escape(stage.name)}: {word}" style="min-width:0">'
            f'<div style="line-height:1.4">'
            f'<span style="color:{CSS_COLOURS[colour]}" aria-label="{word}">{shape}</span> '
            f'<span class="bt-stage-name" style="font-family:\'Source Code Pro\',monospace;font-size:0.875em;'
            f'font-weight:{700 if strong else 400}">{name}</span></div>{under}</div>'
        )
    return (
        '<div class="bt-stages" style="display:grid;grid-template-columns:repeat(auto-fit,minmax(7.5rem,1fr));'
        f'gap:0.5rem 0.75rem">{"".join(cells)}</div>'
    )
