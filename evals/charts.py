"""The report's charts, drawn to be read at the size report.html shows them.

Every chart is `CHART_WIDTH_PX` wide at `DPI`, which report.html shows at that very width (its
page is wider), so a 10-point label is about 14 pixels on screen. Charts with one row per task
or per tag are horizontal bars: the labels read left to right, however many there are, and the
height grows with the rows (`ROW_PX` per bar) instead of the bars getting thinner. Tokens span
orders of magnitude (a few hundred for a small task in code mode, tens of thousands for a large
one in tools mode), so they are drawn on a log scale, and beside them each code mode's tokens
divided by tools mode's, on a log scale centred on 1 (left of it: fewer tokens than tools mode).
A run that failed is drawn hatched, a task not run in a mode draws no bar (never a zero).
"""

# matplotlib types its **kwargs as unknown, which strict pyright flags on every plotting call.
# pyright: reportUnknownMemberType=false

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: charts are only ever written to files

import matplotlib.pyplot as plt  # the backend is chosen above, before pyplot is imported
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

__all__ = [
    "CHART_WIDTH_PX",
    "DPI",
    "MODE_COLORS",
    "PART_COLORS",
    "ROW_PX",
    "TaskBars",
    "chart_style",
    "pass_rate_figure",
    "per_task_figure",
    "png_size",
    "tokens_by_part_figure",
]

CHART_WIDTH_PX = 1100
"""Every chart's width in pixels; report.html shows it at this width."""
DPI = 100
ROW_PX = 11
"""The height of one bar, in pixels: a chart with a row per task grows by this per task and mode."""
_GAP_PX = 9
"""Space between two rows (tasks, tags, modes), in pixels."""
_HEADING_PX = 24
"""A domain's heading row, in pixels."""
_TOP_PX = 82
_TASK_TOP_PX = 112
"""The per-task chart's top margin: the legend, the panels' titles and their top scales."""
_TITLE_PAD = 22
"""Room between a per-task panel's title and its top scale, in points."""
_BOTTOM_PX = 54

MODE_COLORS = {"tools": "#e0892b", "code": "#2f6fb3", "code-search": "#3a9a5b"}
PART_COLORS = {"system": "#8c8c8c", "definitions": "#c0504d", "messages": "#4f81bd", "responses": "#9bbb59"}

_STYLE: dict[Any, Any] = {
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels of a PNG, from its header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def chart_style() -> AbstractContextManager[None]:
    """The charts' fonts and spines: draw and save every chart inside it."""
    return plt.rc_context(_STYLE)


def _figure(height_px: float, ncols: int = 1) -> tuple[Figure, list[Any]]:
    fig, axes = plt.subplots(
        1, ncols, figsize=(CHART_WIDTH_PX / DPI, height_px / DPI), dpi=DPI, sharey=True, squeeze=False
    )
    return fig, list(axes[0])


def _margins(
    fig: Figure,
    height_px: float,
    left_px: float,
    right_px: float = 30,
    wspace: float = 0.08,
    top_px: float = _TOP_PX,
) -> None:
    """Fixed margins in pixels, so a row keeps its height whatever the figure's."""
    fig.subplots_adjust(
        left=left_px / CHART_WIDTH_PX,
        right=1 - right_px / CHART_WIDTH_PX,
        top=1 - top_px / height_px,
        bottom=_BOTTOM_PX / height_px,
        wspace=wspace,
    )


def _label_px(labels: Sequence[str], size: float = 10.5) -> float:
    """Room for the widest of `labels` as a tick label (measured at `size` points, bold to be safe),
    and the gap to the axis; at most 40% of the chart."""
    renderer = RendererAgg(10, 10, DPI)
    font = FontProperties(size=size, weight="bold")
    widest = max(
        (renderer.get_text_width_height_descent(label, font, ismath=False)[0] for label in labels), default=30
    )
    return min(widest + 20, CHART_WIDTH_PX * 0.4)


def _legend(fig: Figure, modes: Sequence[str], failed: bool) -> None:
    handles: list[Any] = [Patch(color=MODE_COLORS.get(m, "#777777"), label=f"{m} mode") for m in modes]
    if failed:
        handles.append(Patch(facecolor="white", edgecolor="#444444", hatch="///", label="failed run"))
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, 1))


def _no_data(ax: Any) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, fontsize=12)
    ax.set_yticks([])


def _times(value: float, _: Any) -> str:
    return f"{value:g}×"  # noqa: RUF001


def _thousands(value: float, _: Any) -> str:
    return f"{value:,.0f}"


def _tokens_formatter(value: float, _: Any) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _ratio_ticks(reach: float) -> list[float]:
    """Ticks of a ratio axis from 1/reach to reach: 1, 2, 5 times each power of ten, or only the
    powers of ten when that makes more than seven (they would run into each other)."""
    low, high = math.floor(math.log10(1 / reach)), math.ceil(math.log10(reach))
    fine = [m * 10.0**e for e in range(low, high + 1) for m in (1, 2, 5) if 1 / reach <= m * 10.0**e <= reach]
    if len(fine) <= 7:
        return fine
    return [10.0**e for e in range(low, high + 1) if 1 / reach <= 10.0**e <= reach]


@dataclass
class TaskBars:
    """One task's bars: per mode, its mean requests and tokens and its pass rate."""

    task_id: str
    domain: str
    requests: dict[str, float]
    tokens: dict[str, float]
    pass_rate: dict[str, float]


def per_task_figure(tasks: Sequence[TaskBars], modes: Sequence[str]) -> Figure:
    """One row per task, grouped under their domain: model requests, tokens (log scale) and, when
    tools mode ran beside a code mode, each code mode's tokens divided by tools mode's (log scale)."""
    by_domain: dict[str, list[TaskBars]] = {}
    for task in tasks:
        by_domain.setdefault(task.domain, []).append(task)
    code_modes = [m for m in modes if m != "tools"] if "tools" in modes else []
    ratio = bool(code_modes) and any(t.tokens.get("tools") for t in tasks)
    panels = 3 if ratio else 2
    n = max(len(modes), 1)
    row_px = n * ROW_PX + _GAP_PX

    # y in pixels from the top: each domain's heading, then its tasks
    y_task: dict[str, float] = {}
    y_heading: dict[str, float] = {}
    y = 0.0
    for domain, domain_tasks in by_domain.items():
        y_heading[domain] = y + _HEADING_PX / 2
        y += _HEADING_PX
        for task in domain_tasks:
            y_task[task.task_id] = y + row_px / 2
            y += row_px
    body = max(y, 3 * row_px)
    height = _TASK_TOP_PX + _BOTTOM_PX + body
    fig, axes = _figure(height, panels)
    labels = [t.task_id for t in tasks]
    _margins(fig, height, _label_px(labels), wspace=0.1, top_px=_TASK_TOP_PX)
    failed = any(rate < 1 for t in tasks for rate in t.pass_rate.values())
    _legend(fig, modes, failed)
    if not tasks:
        for ax in axes:
            _no_data(ax)
        return fig

    def bars(ax: Any, values: dict[str, dict[str, float]], shown: Sequence[str], *, left: float = 0) -> None:
        k = max(len(shown), 1)
        for i, mode in enumerate(shown):
            for task in tasks:
                value = values[task.task_id].get(mode, math.nan)
                if math.isnan(value):
                    continue
                offset = (i - (k - 1) / 2) * ROW_PX
                ok = task.pass_rate.get(mode, 1.0) >= 1
                ax.barh(
                    y_task[task.task_id] + offset,
                    value - left,
                    ROW_PX * 0.92,
                    left=left,
                    color=MODE_COLORS.get(mode, "#777777"),
                    alpha=1 if ok else 0.55,
                    hatch=None if ok else "///",
                    edgecolor="white" if ok else "#333333",
                    linewidth=0.4,
                )

    requests = {t.task_id: t.requests for t in tasks}
    tokens = {t.task_id: t.tokens for t in tasks}
    bars(axes[0], requests, modes)
    axes[0].set_title("model requests", pad=_TITLE_PAD)
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    bars(axes[1], tokens, modes)
    if any(v > 0 for t in tasks for v in t.tokens.values()):  # a log scale needs something above 0
        axes[1].set_xscale("log")
    axes[1].set_title("tokens (log scale)", pad=_TITLE_PAD)
    axes[1].xaxis.set_major_formatter(FuncFormatter(_tokens_formatter))
    axes[1].xaxis.set_minor_formatter(NullFormatter())
    if ratio:
        ratios = {
            t.task_id: {
                m: t.tokens[m] / t.tokens["tools"] if t.tokens.get(m) and t.tokens.get("tools") else math.nan
                for m in code_modes
            }
            for t in tasks
        }
        bars(axes[2], ratios, code_modes, left=1.0)
        finite = [
            abs(math.log10(v)) for r in ratios.values() for v in r.values() if v > 0 and not math.isnan(v)
        ]
        reach = 10 ** max(math.ceil(max(finite, default=0.3) * 10 + 1) / 10, 0.35)
        axes[2].set_xscale("log")
        axes[2].set_xlim(1 / reach, reach)
        axes[2].axvline(1, color="#333333", linewidth=1)
        axes[2].set_title("tokens ÷ tools mode's (log)", pad=_TITLE_PAD)
        axes[2].xaxis.set_major_locator(FixedLocator(_ratio_ticks(reach)))
        axes[2].xaxis.set_major_formatter(FuncFormatter(_times))
        axes[2].xaxis.set_minor_formatter(NullFormatter())
        axes[2].set_xlabel("← fewer than tools mode · more →")
    axes[0].set_xlabel("requests per run")
    axes[1].set_xlabel("tokens per run")

    ticks = [*y_heading.values(), *y_task.values()]
    names = [*(f"{d} ({len(ts)})" for d, ts in by_domain.items()), *(t.task_id for t in tasks)]
    axes[0].set_yticks(ticks, names)
    for label in axes[0].get_yticklabels()[: len(y_heading)]:
        label.set_fontweight("bold")
        label.set_fontsize(10.5)
    axes[0].set_ylim(body, 0)
    for ax in axes:
        ax.tick_params(axis="y", length=0)
        # a tall chart: the scale on top too, to read the first rows without scrolling down
        ax.tick_params(axis="x", top=True, labeltop=True)
        ax.grid(axis="x", alpha=0.3, which="major")
        ax.set_axisbelow(True)
        for heading in y_heading.values():
            ax.axhline(heading + _HEADING_PX / 2 - 2, color="#bbbbbb", linewidth=0.8)
    return fig


def pass_rate_figure(groups: Sequence[str], modes: Sequence[str], rates: dict[str, list[float]]) -> Figure:
    """Pass rate (%) per group (tag) and mode: one row per group, a bar per mode, the value beside it."""
    n = max(len(modes), 1)
    bar_px = ROW_PX + 3  # room for the value written beside each bar
    row_px = n * bar_px + _GAP_PX
    body = max(len(groups), 3) * row_px
    height = _TOP_PX + _BOTTOM_PX + body
    fig, (ax,) = _figure(height)
    _margins(fig, height, _label_px(groups), right_px=60)
    _legend(fig, modes, False)
    if not groups:
        _no_data(ax)
        return fig
    for i, mode in enumerate(modes):
        for g in range(len(groups)):
            value = rates[mode][g]
            if math.isnan(value):
                continue
            y = g * row_px + row_px / 2 + (i - (n - 1) / 2) * bar_px
            ax.barh(y, value, bar_px * 0.9, color=MODE_COLORS.get(mode, "#777777"))
            ax.text(value + 0.8, y, f"{value:.0f}%", va="center", fontsize=9, color="#333333")
    ax.set_yticks([g * row_px + row_px / 2 for g in range(len(groups))], list(groups))
    ax.set_ylim(body, 0)
    ax.set_xlim(0, 100)
    ax.set_xlabel("pass rate (%)")
    ax.set_title("pass rate by tag")
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def tokens_by_part_figure(modes: Sequence[str], parts: dict[str, list[float]]) -> Figure:
    """Mean tokens per run, one stacked bar per mode, split by part; the total beside each bar."""
    row_px = 34 + _GAP_PX
    body = max(len(modes), 2) * row_px
    height = _TOP_PX + _BOTTOM_PX + body
    fig, (ax,) = _figure(height)
    labels = [f"{m} mode" for m in modes]
    _margins(fig, height, _label_px(labels), right_px=40)
    fig.legend(
        handles=[Patch(color=PART_COLORS.get(p, "#777777"), label=p) for p in parts],
        loc="upper center",
        ncol=max(len(parts), 1),
        frameon=False,
        bbox_to_anchor=(0.5, 1),
    )
    if not modes:
        _no_data(ax)
        return fig
    totals = [sum(values[i] for values in parts.values()) for i in range(len(modes))]
    peak = max(totals, default=0) or 1
    for i in range(len(modes)):
        left = 0.0
        y = i * row_px + row_px / 2
        for part, values in parts.items():
            value = values[i]
            ax.barh(y, value, 34, left=left, color=PART_COLORS.get(part, "#777777"), edgecolor="white")
            if value / peak > 0.07:
                ax.text(
                    left + value / 2, y, f"{value:,.0f}", ha="center", va="center", fontsize=9, color="white"
                )
            left += value
        ax.text(left + peak * 0.01, y, f"{totals[i]:,.0f}", va="center", fontsize=10, fontweight="bold")
    ax.set_yticks([i * row_px + row_px / 2 for i in range(len(modes))], labels)
    ax.set_ylim(body, 0)
    ax.set_xlim(0, peak * 1.1)
    ax.set_xlabel("mean tokens per run (system + definitions + messages + responses)")
    ax.set_title("mean tokens per run, by part")
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig
