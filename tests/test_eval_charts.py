"""The report's charts are readable at the size report.html shows them.

Each PNG is `CHART_WIDTH_PX` wide, and report.html shows it at that width (its `<img>` carries the
PNG's own size, and the page is wider), so its 10-point labels are about 14 pixels on screen. The
per-task chart is horizontal bars, one row per task: its height grows with the tasks (at least a
bar of `ROW_PX` per task and mode), never squeezing them into a fixed strip. Tokens, which span
orders of magnitude, are on a log scale, beside each code mode's tokens divided by tools mode's.
The sizes are read from the PNG files' headers."""

from __future__ import annotations

import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from evals.charts import CHART_WIDTH_PX, DPI, ROW_PX, chart_style
from evals.report import CHART_FILES, chart_figures, write_reports
from evals.results import MODES, Mode, RunSummary, TaskResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DOMAINS = ["calendar", "documents", "enterprise", "inventory", "orders", "stats", "weather"]


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk, the first after the signature."""
    data = path.read_bytes()[:24]
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def made_up(tasks: int, modes: tuple[Mode, ...] = MODES, tags: int = 4) -> RunSummary:
    """`tasks` tasks spread over the domains, in every mode; tokens from 200 to 200,000."""
    results: list[TaskResult] = []
    for i in range(tasks):
        domain = DOMAINS[i % len(DOMAINS)]
        for mode in modes:
            tokens = {"tools": 200 * 10 ** (i % 4), "code": 1_000 + 10 * i, "code-search": 1_500 + 10 * i}[
                mode
            ]
            results.append(
                TaskResult(
                    task_id=f"{domain}-a-fairly-long-task-name-{i:02d}",
                    domain=domain,
                    mode=mode,
                    repeat=1,
                    tags=[f"tag-{i % tags}"],
                    passed=(i + len(mode)) % 5 != 0,
                    reason="ok",
                    answer="",
                    model_requests=2 + i % 5 if mode == "tools" else 2,
                    system_tokens=68,
                    definition_tokens=tokens // 2,
                    message_tokens=tokens - tokens // 2 - 88,
                    response_tokens=20,
                )
            )
    return RunSummary(model="m", oracle=False, modes=list(modes), repeat=1, results=results)


class Images(HTMLParser):
    """Every <img> of a page (its attributes), and the page's CSS."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.css = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.css += data


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Path]]:
    """The reports of 4 tasks and of 56 (as many as the datasets have), by number of tasks."""
    out = tmp_path_factory.mktemp("charts")
    return {n: write_reports(made_up(n), out / str(n)) for n in (4, 56)}


def test_every_chart_is_as_wide_as_the_page_shows_it(runs: dict[int, dict[str, Path]]) -> None:
    for paths in runs.values():
        for name in CHART_FILES:
            width, height = png_size(paths[name])
            assert width == CHART_WIDTH_PX, name
            assert height >= 200, name


def test_the_per_task_chart_grows_with_the_tasks(runs: dict[int, dict[str, Path]]) -> None:
    (_, small), (_, large) = png_size(runs[4]["per_task"]), png_size(runs[56]["per_task"])
    per_task = (large - small) / (56 - 4)
    assert per_task >= len(MODES) * ROW_PX  # a bar of ROW_PX per task and mode, at least
    assert per_task <= 60  # and not much more: 56 tasks stay one scroll of a page, not five
    assert small <= 600  # a short run gets a short chart


def test_the_pass_rate_chart_grows_with_the_tags(tmp_path: Path) -> None:
    few = write_reports(made_up(8, tags=2), tmp_path / "few")["pass_rate_by_tag"]
    many = write_reports(made_up(24, tags=12), tmp_path / "many")["pass_rate_by_tag"]
    assert (png_size(many)[1] - png_size(few)[1]) / 10 >= len(MODES) * ROW_PX


def test_the_html_shows_each_chart_at_its_own_size(runs: dict[int, dict[str, Path]]) -> None:
    paths = runs[56]
    page = Images()
    page.feed(paths["html"].read_text())
    max_width = re.search(r"body\s*{[^}]*max-width:\s*(\d+)px", page.css)
    assert max_width and int(max_width.group(1)) >= CHART_WIDTH_PX  # room for the chart's full width
    assert len(page.images) == len(CHART_FILES)
    by_alt = {str(img["alt"]): img for img in page.images}
    for name in CHART_FILES:
        img = by_alt[name.replace("_", " ")]
        assert (int(str(img["width"])), int(str(img["height"]))) == png_size(paths[name]), name
        assert str(img["src"]).startswith("data:image/png;base64,")


def test_tokens_on_a_log_scale_and_labels_readable() -> None:
    with chart_style():
        figures = chart_figures(made_up(12))
        try:
            per_task = figures["per_task"]
            requests, tokens, ratio = per_task.axes
            assert requests.get_xscale() == "linear"
            assert tokens.get_xscale() == "log" and ratio.get_xscale() == "log"
            low, high = ratio.get_xlim()
            assert low < 1 < high and abs(low * high - 1) < 1e-6  # centred on 1 (as many tokens as tools)
            assert per_task.dpi == DPI
            # 10 points at 100 dpi: about 14 pixels, the PNG shown at its own size
            labels = [t for t in requests.get_yticklabels() if t.get_text()]
            assert len(labels) == 12 + len({r.domain for r in made_up(12).results})
            assert min(float(t.get_fontsize()) for t in labels) >= 10
            for figure in figures.values():
                for ax in figure.axes:
                    for text in [*ax.get_xticklabels(), ax.title, ax.xaxis.label]:
                        if text.get_text():
                            assert float(text.get_fontsize()) >= 10, text.get_text()
        finally:
            for figure in figures.values():
                plt.close(figure)


def test_without_tools_mode_there_is_no_ratio(tmp_path: Path) -> None:
    with chart_style():
        figures = chart_figures(made_up(3, modes=("code",)))
        try:
            assert len(figures["per_task"].axes) == 2
        finally:
            for figure in figures.values():
                plt.close(figure)
