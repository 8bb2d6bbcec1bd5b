"""The eval report: aggregates and savings are right, and every output file is written and sound.

In these made-up results `tokens=(input, output)` is the harness's own count, split as it
splits it (system, definitions, messages; responses); the usage the model "reported" is
set to other numbers, so a figure taken from the wrong one shows."""

from __future__ import annotations

import html
import json
import re
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from evals.accounting import TOKEN_METHOD, RequestCount
from evals.report import (
    CHART_FILES,
    ORACLE_NOTE,
    TOKEN_LEGEND,
    TOKEN_PARTS,
    aggregate,
    print_table,
    token_note,
    write_reports,
)
from evals.results import Mode, RunSummary, TaskResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def result(
    task_id: str,
    mode: Mode,
    tags: list[str],
    *,
    passed: bool = True,
    requests: int,
    tokens: tuple[int, int],
    host_calls: int = 0,
    repeat: int = 0,
    domain: str = "orders",
) -> TaskResult:
    system, definitions = tokens[0] // 10, tokens[0] // 2
    return TaskResult(
        task_id=task_id,
        domain=domain,
        mode=mode,
        repeat=repeat,
        tags=tags,
        passed=passed,
        reason="ok" if passed else "expected 42, got 41",
        answer="42" if passed else "41",
        model_requests=requests,
        input_tokens=tokens[0] // 4,  # the model's own report: not what the report should total
        output_tokens=tokens[1] + 1,
        host_calls=host_calls,
        run_code_retries=1 if mode == "code" and not passed else 0,
        sandbox_seconds=0.01 if mode == "code" else 0.0,
        wall_seconds=1.5,
        system_tokens=system,
        definition_tokens=definitions,
        message_tokens=tokens[0] - system - definitions,
        response_tokens=tokens[1],
        tools_offered=1 if mode != "tools" else 2,
        per_request=[
            RequestCount(definitions=definitions // requests, definition_chars=4 * definitions // requests)
        ]
        * requests,
    )


def make_summary(oracle: bool = False) -> RunSummary:
    """Three tasks in both modes, one task only in tools mode; tools mode fails on `orders-fanout`."""
    return RunSummary(
        model="oracle" if oracle else "openai:gpt-4.1-mini",
        oracle=oracle,
        modes=["code", "tools"],
        repeat=1,
        started_at="2025-01-01T00:00:00Z",
        wall_seconds=12.0,
        results=[
            result(
                "orders-top",
                "code",
                ["multi-step", "aggregation"],
                requests=2,
                tokens=(100, 20),
                host_calls=3,
            ),
            result(
                "orders-top",
                "tools",
                ["multi-step", "aggregation"],
                requests=4,
                tokens=(300, 40),
                host_calls=3,
            ),
            result("orders-fanout", "code", ["fan-out"], requests=2, tokens=(150, 30), host_calls=10),
            result(
                "orders-fanout",
                "tools",
                ["fan-out"],
                passed=False,
                requests=7,
                tokens=(900, 90),
                host_calls=9,
            ),
            result("orders-one", "code", ["single-call"], requests=2, tokens=(80, 10), host_calls=1),
            result("orders-one", "tools", ["single-call"], requests=2, tokens=(70, 10), host_calls=1),
            result("orders-extra", "tools", ["single-call"], requests=3, tokens=(50, 5), host_calls=1),
        ],
    )


def test_aggregate_by_mode() -> None:
    agg = aggregate(make_summary())
    code, tools = agg["by_mode"]["code"], agg["by_mode"]["tools"]
    assert (code["tasks"], code["passed"], code["pass_rate"]) == (3, 3, 1.0)
    assert (tools["tasks"], tools["passed"], tools["pass_rate"]) == (4, 3, 0.75)
    assert code["total_requests"] == 6 and code["mean_requests"] == 2.0
    assert tools["total_requests"] == 16 and tools["mean_requests"] == 4.0
    assert code["total_tokens"] == 120 + 180 + 90
    assert tools["total_tokens"] == 340 + 990 + 80 + 55
    assert code["total_host_calls"] == 14 and tools["total_host_calls"] == 14


def test_aggregate_by_tag() -> None:
    by_tag = aggregate(make_summary())["by_tag"]
    assert set(by_tag) == {"multi-step", "aggregation", "fan-out", "single-call"}
    assert by_tag["fan-out"]["tools"]["pass_rate"] == 0.0
    assert by_tag["fan-out"]["code"]["pass_rate"] == 1.0
    assert by_tag["single-call"]["tools"]["tasks"] == 2
    assert by_tag["single-call"]["code"]["tasks"] == 1
    assert by_tag["multi-step"]["tools"]["mean_tokens"] == 340.0


def test_savings_only_count_tasks_run_in_both_modes() -> None:
    savings = aggregate(make_summary())["savings"]
    per_task = savings["per_task"]
    assert set(per_task) == {"orders-top", "orders-fanout", "orders-one"}  # not orders-extra
    assert per_task["orders-top"]["requests_saved"] == 2
    assert per_task["orders-fanout"]["requests_saved"] == 5
    assert per_task["orders-one"]["requests_saved"] == 0
    assert per_task["orders-top"]["tokens_saved"] == 340 - 120
    assert per_task["orders-one"]["tokens_saved"] == -10  # code mode can cost more
    assert per_task["orders-fanout"]["tools_pass_rate"] == 0.0
    total = savings["total"]
    assert total["tasks"] == 3
    assert total["requests_saved"] == 7
    assert total["tokens_saved"] == 220 + 810 - 10
    assert total["tools_requests"] == 13 and total["code_requests"] == 6


def test_savings_use_the_mean_over_repeats() -> None:
    summary = RunSummary(
        model="m",
        oracle=False,
        modes=["code", "tools"],
        repeat=2,
        results=[
            result("t", "code", ["multi-step"], requests=2, tokens=(10, 0), repeat=0),
            result("t", "code", ["multi-step"], requests=3, tokens=(20, 0), repeat=1),
            result("t", "tools", ["multi-step"], requests=5, tokens=(40, 0), repeat=0),
            result("t", "tools", ["multi-step"], requests=6, tokens=(60, 0), repeat=1),
        ],
    )
    agg = aggregate(summary)
    assert agg["savings"]["per_task"]["t"]["requests_saved"] == 3.0
    assert agg["savings"]["per_task"]["t"]["tokens_saved"] == 35.0
    assert agg["by_mode"]["code"]["tasks"] == 2


def test_aggregate_of_an_empty_run() -> None:
    agg = aggregate(RunSummary(model="m", oracle=False, modes=["code"], repeat=1))
    assert agg["by_mode"]["code"]["tasks"] == 0 and agg["by_mode"]["code"]["pass_rate"] == 0.0
    assert agg["savings"]["total"]["tasks"] == 0


@pytest.mark.parametrize("oracle", [True, False])
def test_write_reports(tmp_path: Path, oracle: bool) -> None:
    summary = make_summary(oracle=oracle)
    paths = write_reports(summary, tmp_path / "out")

    assert set(paths) == {"results", "html", *CHART_FILES}
    data = json.loads(paths["results"].read_text())
    assert data["oracle"] is oracle
    assert len(data["results"]) == len(summary.results)
    assert data["results"][0]["task_id"] == "orders-top"
    assert data["aggregates"]["savings"]["total"]["requests_saved"] == 7
    assert data["aggregates"]["by_mode"]["tools"]["pass_rate"] == 0.75

    for name, filename in CHART_FILES.items():
        png = paths[name]
        assert png == tmp_path / "out" / filename
        content = png.read_bytes()
        assert content.startswith(PNG_SIGNATURE) and len(content) > 1000

    page = paths["html"].read_text()
    for task_id in ("orders-top", "orders-fanout", "orders-one", "orders-extra"):
        assert task_id in page
    assert re.search(r'id="requests-saved">7<', page)
    assert "expected 42, got 41" in page
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(CHART_FILES)
    assert "http://" not in page and "https://" not in page  # self-contained
    assert (ORACLE_NOTE in page) is oracle


def test_html_escapes_text_from_the_run(tmp_path: Path) -> None:
    summary = make_summary()
    summary.model = "<script>alert(1)</script>"
    summary.results[3].reason = 'got <b>"41"</b> & more'
    page = write_reports(summary, tmp_path)["html"].read_text()
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;&quot;41&quot;&lt;/b&gt; &amp; more" in page


def test_write_reports_of_an_empty_run(tmp_path: Path) -> None:
    paths = write_reports(RunSummary(model="m", oracle=True, modes=["code", "tools"], repeat=1), tmp_path)
    assert paths["pass_rate_by_tag"].read_bytes().startswith(PNG_SIGNATURE)
    assert "no task was run in both code mode and tools mode" in paths["html"].read_text()


def _printed(summary: RunSummary) -> str:
    out = StringIO()
    print_table(summary, Console(file=out, width=200, color_system=None))
    return out.getvalue()


def test_print_table_shows_tasks_aggregates_and_the_oracle_note() -> None:
    text = _printed(make_summary(oracle=True))
    for task_id in ("orders-top", "orders-fanout", "orders-one", "orders-extra"):
        assert task_id in text
    assert ORACLE_NOTE in text
    assert "↳ expected 42, got 41" in text  # under its row
    assert "FAIL orders-fanout (tools mode, run 0): expected 42, got 41" in text  # and listed at the end
    assert "by mode" in text and "by tag" in text and "fan-out" in text
    assert "75%" in text  # tools mode pass rate
    assert "7 fewer model requests (-54%)" in text
    assert f"{_num_text(220 + 810 - 10)} fewer tokens" in text and "tool definitions included" in text
    for header in ("sys", "defs", "msgs", "resp", "tokens", "defs/req", "by domain"):
        assert header in text, header
    assert TOKEN_METHOD in " ".join(text.split()) and TOKEN_LEGEND in " ".join(text.split())


def test_print_table_without_oracle_names_the_model() -> None:
    console = Console(record=True, width=200, file=StringIO())
    print_table(make_summary(oracle=False), console)
    text = console.export_text()
    assert ORACLE_NOTE not in text
    assert "openai:gpt-4.1-mini" in text


def test_pass_at_k_counts_a_task_once_if_any_repeat_passed() -> None:
    def result(task: str, repeat: int, passed: bool) -> TaskResult:
        return TaskResult(task, "d", "code", repeat, [], passed, "ok" if passed else "no", "")

    summary = RunSummary(model="m", oracle=False, modes=["code"], repeat=2)
    summary.results = [
        result("a", 1, False),
        result("a", 2, True),
        result("b", 1, False),
        result("b", 2, False),
    ]
    by_mode = aggregate(summary)["by_mode"]["code"]
    assert by_mode["pass_at_k"] == 0.5 and by_mode["pass_rate"] == 0.25


def _num_text(n: int) -> str:
    return f"{n:,}"


def test_tokens_are_the_harness_count_split_by_part() -> None:
    """Aggregates total the harness's split (definitions included), not the model's reported usage."""
    summary = make_summary()
    code = aggregate(summary)["by_mode"]["code"]
    code_results = [r for r in summary.results if r.mode == "code"]
    for part in TOKEN_PARTS:
        assert code[f"total_{part}_tokens"] > 0
    assert sum(code[f"total_{part}_tokens"] for part in TOKEN_PARTS) == code["total_tokens"]
    assert code["total_definitions_tokens"] == sum(r.definition_tokens for r in code_results)
    assert code["total_reported_tokens"] == sum(r.input_tokens + r.output_tokens for r in code_results)
    assert code["total_reported_tokens"] != code["total_tokens"]
    assert code["definition_tokens_per_request"] == code["total_definitions_tokens"] / 6
    assert code["definition_chars_per_request"] > 0
    for r in summary.results:
        assert r.tokens == r.system_tokens + r.definition_tokens + r.message_tokens + r.response_tokens
        assert r.to_dict()["tokens"] == r.tokens


def test_by_domain_and_the_savings_of_every_code_mode() -> None:
    summary = make_summary()
    summary.modes = ["tools", "code", "code-search"]
    summary.results += [
        result("orders-top", "code-search", ["multi-step"], requests=3, tokens=(90, 20)),
        result("ent-one", "tools", ["single-call"], requests=2, tokens=(5000, 10), domain="enterprise"),
        result("ent-one", "code-search", ["single-call"], requests=3, tokens=(3000, 30), domain="enterprise"),
    ]
    agg = aggregate(summary)
    assert set(agg["by_domain"]) == {"orders", "enterprise"}
    assert agg["by_domain"]["enterprise"]["code"]["tasks"] == 0
    assert agg["by_domain"]["enterprise"]["tools"]["total_tokens"] == 5010
    search = agg["savings_by_mode"]["code-search"]
    assert set(search["per_task"]) == {"orders-top", "ent-one"}
    assert search["per_task"]["ent-one"]["requests_saved"] == -1  # search mode can take a request more
    assert search["per_task"]["ent-one"]["tokens_saved"] == 5010 - 3030
    assert agg["savings_by_mode"]["code"] == agg["savings"]

    text = _printed(summary)
    assert (
        "code-search mode against tools mode, over 2 tasks run in both: "
        "as many model requests and 2,210 fewer tokens (-41%)" in text
    )
    assert "code mode against tools mode, over 3 tasks" in text


def test_reported_usage_is_shown_for_a_real_model_only(tmp_path: Path) -> None:
    real = write_reports(make_summary(oracle=False), tmp_path / "real")["html"].read_text()
    oracle = write_reports(make_summary(oracle=True), tmp_path / "oracle")["html"].read_text()
    assert "<th>usage in</th>" in real and "<th>usage tok</th>" in real
    assert "usage in" not in oracle
    for page in (real, oracle):
        for header in ("sys", "defs", "msgs", "resp", "tokens", "defs/req", "tools"):
            assert f"<th>{header}</th>" in page, header
        assert "By domain" in page
        assert html.escape(token_note(make_summary()), quote=True) in page
    assert "what the oracle does" in oracle and "a perfect model replaying the reference solutions" in oracle


def test_skipped_modes_and_code_options_are_reported(tmp_path: Path) -> None:
    summary = make_summary(oracle=True)
    summary.skipped_modes = {"code-search": "skipped: the installed agent_tools does not accept it"}
    summary.mode_options = {"code": {"catalog": "full"}}
    paths = write_reports(summary, tmp_path)
    page = paths["html"].read_text()
    assert 'id="skipped-code-search"' in page and "does not accept it" in page
    assert "code mode: CodeToolset(catalog=&#x27;full&#x27;)" in page
    data = json.loads(paths["results"].read_text())
    assert data["skipped_modes"] == summary.skipped_modes
    assert data["mode_options"] == {"code": {"catalog": "full"}}
    assert data["token_method"] == TOKEN_METHOD and "oracle_note" in data
    assert data["results"][0]["tokens"] == summary.results[0].tokens
    assert (
        data["results"][0]["per_request"][0]["definitions"] == summary.results[0].per_request[0].definitions
    )
    text = _printed(summary)
    assert "code-search mode skipped: the installed agent_tools does not accept it" in " ".join(text.split())


def test_a_narrow_terminal_keeps_the_token_columns() -> None:
    out = StringIO()
    print_table(make_summary(oracle=True), Console(file=out, width=90, color_system=None))
    text = out.getvalue()
    header = next(line for line in text.splitlines() if "requests" in line.split())
    for name in ("requests", "sys", "defs", "msgs", "resp", "tokens"):
        assert name in header.split(), name
    assert "wall s" not in header and "too narrow for:" in text and "wall s" in text
    assert "orders-fanout" in text and "FAIL" in text
    assert max(len(line) for line in text.splitlines()) <= 90
