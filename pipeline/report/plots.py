"""The report's figures as inline SVG strings (matplotlib, no pyplot: no global figure state and
no GUI backend). Output is byte-stable: fixed hash salt, no date/creator metadata, text as
<text> elements (svg.fonttype "none": small, selectable, no embedded glyphs), and element ids
prefixed per figure so several SVGs share one HTML document without id clashes."""
from __future__ import annotations

import io
import re

import numpy as np

HASH_SALT = "llama3-curate-report"
WIDTH_IN = 9.0
BAR_COLOR = "#4c72b0"
DROP_COLOR = "#c44e52"
PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")

_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def _figure(height_in: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_IN, max(1.6, height_in)))


def to_svg(fig, prefix: str) -> str:
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": HASH_SALT, "svg.fonttype": "none", "font.size": 9}):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
                    bbox_inches="tight")
    svg = _METADATA.sub("", _XML_PROLOGUE.sub("", buf.getvalue(), count=1))
    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", svg)
    return svg.strip()


def hbar(labels: list[str], values: list[float], prefix: str, title: str, xlabel: str,
         annotations: list[str] | None = None, colors: list[str] | None = None) -> str:
    """Horizontal bars, first label at the top."""
    import matplotlib

    with matplotlib.rc_context({"font.size": 9}):
        fig = _figure(0.8 + 0.28 * len(labels))
        ax = fig.add_subplot()
        y = np.arange(len(labels))
        ax.barh(y, values, color=colors or BAR_COLOR)
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        top = max(values) if values else 1
        ax.set_xlim(0, top * 1.18 if top else 1)
        for yi, v, note in zip(y, values, annotations or [None] * len(values)):
            ax.text(v + top * 0.01, yi, note if note is not None else f"{v:,}", va="center", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        return to_svg(fig, prefix)


def histogram(edges: np.ndarray, counts: np.ndarray, prefix: str, title: str, xlabel: str) -> str:
    import matplotlib

    with matplotlib.rc_context({"font.size": 9}):
        fig = _figure(2.6)
        ax = fig.add_subplot()
        ax.stairs(counts, edges, fill=True, color=BAR_COLOR)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("documents")
        ax.spines[["top", "right"]].set_visible(False)
        return to_svg(fig, prefix)


def grouped_bars(categories: list[str], series: dict[str, list[float]], prefix: str, title: str) -> str:
    """One group of bars per category, one bar per series (e.g. target vs achieved)."""
    import matplotlib

    with matplotlib.rc_context({"font.size": 9}):
        fig = _figure(0.8 + 0.3 * len(categories) * max(1, len(series)) / 1.5)
        ax = fig.add_subplot()
        y = np.arange(len(categories))
        height = 0.8 / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            ax.barh(y + i * height, values, height=height, label=name, color=PALETTE[i % len(PALETTE)])
        ax.set_yticks(y + height * (len(series) - 1) / 2, categories)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.legend(loc="lower right", frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return to_svg(fig, prefix)


def reliability(curves: dict[str, tuple[list[float], list[float]]], prefix: str, title: str, ylabel: str) -> str:
    """Reliability (calibration) curves: per scorer, the observed rate against the mean predicted
    score of each bin, with the diagonal of a perfectly calibrated scorer."""
    import matplotlib

    with matplotlib.rc_context({"font.size": 9}):
        fig = _figure(3.4)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color="#8c8c8c", linestyle="--", linewidth=1, label="calibrated")
        for i, (name, (x, y)) in enumerate(curves.items()):
            ax.plot(x, y, marker="o", color=PALETTE[i % len(PALETTE)], label=name)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("mean score in the bin")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc="upper left", frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return to_svg(fig, prefix)


def lines(x: list[float], series: dict[str, list[float]], prefix: str, title: str, xlabel: str, ylabel: str) -> str:
    """One line per series over a shared x (e.g. the share kept at each threshold, per group)."""
    import matplotlib

    with matplotlib.rc_context({"font.size": 9}):
        fig = _figure(3.0)
        ax = fig.add_subplot()
        for i, (name, values) in enumerate(series.items()):
            ax.plot(x, values, marker="o", color=PALETTE[i % len(PALETTE)], label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(loc="best", frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        return to_svg(fig, prefix)
