"""SVG figures (matplotlib, no network) for the dashboard and the training report's HTML page."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from functools import cache

COLORS = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#e53e3e", "#319795", "#d69e2e"]


@cache
def _pyplot():
    """matplotlib on first use (0.4 s to import: service workers only pay it when a dashboard is drawn)."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller files, selectable labels
    return plt


def _svg(fig) -> str:
    plt = _pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def lines(x: Sequence[str], series: Mapping[str, Sequence[float | None]], title: str, ylabel: str = "") -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for k, (name, ys) in enumerate(series.items()):
        pts = [(i, y) for i, y in enumerate(ys) if y is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name, color=COLORS[k % len(COLORS)])
    ax.set_xticks(range(len(x)), [s[:15] for s in x], rotation=20, ha="right", fontsize=7)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=7)
    return _svg(fig)


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    ylabel: str = "",
    errors: Sequence[tuple[float, float]] | None = None,
    reference: Sequence[float] | None = None,
    reference_label: str = "",
) -> str:
    """Bars, optionally with 95% intervals (low, high) and reference markers (e.g. budgets)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    pos = range(len(labels))
    yerr = None
    if errors is not None:
        yerr = [
            [max(0.0, v - lo) for v, (lo, _) in zip(values, errors)],
            [max(0.0, hi - v) for v, (_, hi) in zip(values, errors)],
        ]
    ax.bar(pos, values, color=[COLORS[k % len(COLORS)] for k in pos], yerr=yerr, capsize=4)
    if reference is not None:
        ax.scatter(list(pos), reference, marker="_", s=600, color="black", label=reference_label, zorder=3)
        ax.legend(fontsize=7)
    ax.set_xticks(list(pos), [str(s)[:22] for s in labels], rotation=25, ha="right", fontsize=7)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def histogram(edges: Sequence[float], counts: Sequence[int], title: str, xlabel: str) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color=COLORS[0], edgecolor="white")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("customers")
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)
