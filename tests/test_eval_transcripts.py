"""Every run keeps its transcript, and report.html shows it, collapsed, under the results.

The harness records, for every run, its messages (the question, the model's text and tool calls,
the code it wrote for `run_code`, what each call returned or the error sent back to retry), its
host calls (function, arguments, result or error), and the exception that ended a run that
raised. report.html links each result row to the run's `<details>` (closed by default) holding
them, escaped: the page is parsed with html.parser and the text read back equals the original,
`<` and `&` included."""

from __future__ import annotations

import asyncio
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

from evals.harness import RunOptions, oracle_factory, run_eval
from evals.report import HTML_TEXT_LIMIT, run_anchors, write_reports
from evals.results import Mode, RunSummary, TaskResult
from evals.schema import Task, load_datasets

TASKS = {t.id: t for t in load_datasets()}


def responses_so_far(messages: list[ModelMessage]) -> int:
    return sum(isinstance(m, ModelResponse) for m in messages)


def scripted(*steps: ModelResponse | Exception) -> FunctionModel:
    """A model answering with `steps` in order (raising the exceptions among them)."""

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = steps[responses_so_far(messages)]
        if isinstance(step, Exception):
            raise step
        return step

    return FunctionModel(answer, model_name="scripted")


def run_code(code: str) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart("run_code", {"code": code})])


def evaluate(task: Task, model: FunctionModel | None, mode: Mode = "code") -> TaskResult:
    def factory(t: Task, m: Mode) -> Model:
        return oracle_factory(t, m) if model is None else model

    options = RunOptions(modes=[mode], concurrency=1)
    summary = asyncio.run(run_eval([task], factory, options, model_name="m", oracle=model is None))
    (result,) = summary.results
    return result


# -- what the harness records ------------------------------------------------------------------


def test_a_failed_run_keeps_its_code_errors_and_host_calls() -> None:
    task = TASKS["orders-customer-email"]
    bad = "customer = get_customer(customer_id=70)\ncustomer['email'] if 1 < 2 & 3 else None\n"
    model = scripted(
        run_code("get_customer(7)[\n"),  # a syntax error: sent back to retry
        run_code(bad),  # a host call that raises: sent back too
        run_code('get_customer(7)["name"]\n'),
        ModelResponse(parts=[TextPart("Niels <Bohr> & co")]),  # the wrong answer
    )
    r = evaluate(task, model)
    assert not r.passed
    kinds = [e["kind"] for e in r.transcript]
    assert kinds == ["user", "call", "retry", "call", "retry", "call", "return", "text"]
    assert r.transcript[0]["text"] == task.prompt
    codes = [e["code"] for e in r.transcript if e["kind"] == "call"]
    assert codes == ["get_customer(7)[\n", bad, 'get_customer(7)["name"]\n']
    assert "syntax" in r.transcript[2]["text"].lower()
    assert r.transcript[-1]["text"] == "Niels <Bohr> & co"
    functions = [(c["function"], "error" in c) for c in r.calls]
    assert functions == [("get_customer", True), ("get_customer", False)]
    assert r.calls[0]["args"] == {"customer_id": "70"}
    assert r.calls[0]["error"] == "KeyError: 'no customer with id 70'"
    assert "no customer with id 70" in r.transcript[4]["text"]  # what the model read
    assert json.loads(r.calls[1]["result"])["email"] == task.expected
    assert r.to_dict()["transcript"] == r.transcript and r.to_dict()["calls"] == r.calls


def test_a_run_that_raised_keeps_what_happened_before() -> None:
    model = scripted(run_code("get_customer(7)\n"), RuntimeError("the provider went away"))
    r = evaluate(TASKS["orders-customer-email"], model)
    assert not r.passed and "the provider went away" in r.reason
    assert [e["kind"] for e in r.transcript] == ["user", "call", "return", "error"]
    assert r.transcript[-1]["text"] == "RuntimeError: the provider went away"
    assert [c["function"] for c in r.calls] == ["get_customer"]


def test_tools_mode_records_the_tool_calls_and_a_flaky_function() -> None:
    """The oracle's reference plan on a task whose supplier API times out at first."""
    task = TASKS["inventory-supplier-unit-cost"]
    r = evaluate(task, None, mode="tools")
    assert r.passed
    assert {e["tool"] for e in r.transcript if e["kind"] == "call"} <= set(task.functions)
    assert any(e["kind"] == "retry" and "timed out" in e["text"] for e in r.transcript)
    assert any("error" in c and "TimeoutError" in c["error"] for c in r.calls)
    assert any("result" in c for c in r.calls)


# -- what report.html shows --------------------------------------------------------------------


class Page(HTMLParser):
    """The parts of report.html the tests read: elements with their attributes, the runs'
    <details>, the text of every <pre> inside each, and every link."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.details: dict[str, dict[str, Any]] = {}
        self.links: list[str] = []
        self.result_links: list[str] = []
        self._details: str | None = None
        self._pre: list[str] | None = None
        self._table = ""
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "table":
            self._table = str(a.get("class") or "")
        if tag == "details" and "run" in str(a.get("class", "")).split():
            self._details = str(a["id"])
            self.details[self._details] = {"attrs": a, "pre": [], "text": []}
        if tag == "pre":
            self._pre = []
        if tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))
            if self._table == "results":
                self.result_links.append(str(a["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre" and self._pre is not None:
            if self._details:
                self.details[self._details]["pre"].append("".join(self._pre))
            self._pre = None
        if tag == "details":
            self._details = None
        if tag == "table":
            self._table = ""

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._pre is not None:
            self._pre.append(data)
        if self._details:
            self.details[self._details]["text"].append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


NASTY_CODE = 'rows = [r for r in get_table("t") if r["x"] < 3 & 1]\n"</pre><script>alert(1)</script>"\n'


def summary_with_transcripts() -> RunSummary:
    def result(task_id: str, mode: str, passed: bool, transcript: list[dict[str, Any]]) -> TaskResult:
        return TaskResult(
            task_id=task_id,
            domain="stats",
            mode=mode,  # type: ignore[arg-type]
            repeat=1,
            tags=["t"],
            passed=passed,
            reason="ok" if passed else "expected 3, got <none> & nothing",
            answer="<none>",
            model_requests=2,
            host_calls=1,
            transcript=transcript,
            calls=[
                {"function": "get_table", "args": {"name": '"<t>"'}, "error": "KeyError: 'no table <t> & co'"}
            ],
        )

    return RunSummary(
        model="m",
        oracle=False,
        modes=["code", "tools"],
        repeat=1,
        results=[
            result(
                "stats-x",
                "code",
                False,
                [
                    {"kind": "user", "text": "How many rows have x < 3 & y > 1?"},
                    {
                        "kind": "call",
                        "tool": "run_code",
                        "args": json.dumps({"code": NASTY_CODE}),
                        "code": NASTY_CODE,
                    },
                    {"kind": "retry", "tool": "run_code", "text": "KeyError: 'no table <t> & co'"},
                    {"kind": "return", "tool": "run_code", "text": "x" * (HTML_TEXT_LIMIT + 5000)},
                    {"kind": "text", "text": "<none>"},
                    {"kind": "error", "text": "CassetteError: cassette <c>.json exhausted"},
                ],
            ),
            result("stats-x", "tools", True, [{"kind": "user", "text": "q"}]),
            result("stats-y", "tools", True, []),
        ],
    )


def test_every_run_links_to_its_transcript_collapsed(tmp_path: Path) -> None:
    summary = summary_with_transcripts()
    page = parse(write_reports(summary, tmp_path)["html"])
    anchors = run_anchors(summary)
    assert list(page.details) == anchors  # one <details> per run, in the results' order
    for attrs in (d["attrs"] for d in page.details.values()):
        assert "open" not in attrs  # collapsed by default
    assert page.result_links == [f"#{a}" for a in anchors]  # each results row links to its own
    assert f"#{anchors[0]}" in page.links[: page.links.index(f"#{anchors[0]}") + 1]
    # the failed run is listed with a link before the results, too
    assert page.links.count(f"#{anchors[0]}") == 2 and page.links.count(f"#{anchors[1]}") == 1
    ids = [a.get("id") for _, a in page.tags if a.get("id")]
    assert len(ids) == len(set(ids))


def test_transcripts_are_escaped_and_read_back_whole(tmp_path: Path) -> None:
    summary = summary_with_transcripts()
    raw = write_reports(summary, tmp_path)["html"]
    page = parse(raw)
    assert not any(tag == "script" for tag, _ in page.tags)  # the model's text made no element
    failed = page.details[run_anchors(summary)[0]]
    assert NASTY_CODE in failed["pre"]  # the code, as the model wrote it, in its own <pre>
    assert "How many rows have x < 3 & y > 1?" in failed["pre"]
    assert "KeyError: 'no table <t> & co'" in failed["pre"]
    assert "CassetteError: cassette <c>.json exhausted" in failed["pre"]
    text = " ".join(failed["text"])
    assert "expected 3, got <none> & nothing" in text  # why it failed
    assert "get_table" in text and 'name="<t>"' in text  # the host call, and its error
    long = next(p for p in failed["pre"] if p.startswith("xxx"))
    assert long.startswith("x" * HTML_TEXT_LIMIT) and "5,000 more characters" in long
    assert "results.json" in long
    empty = page.details[run_anchors(summary)[2]]
    assert "(no message was recorded)" in " ".join(empty["text"])
    assert "<script>" not in raw.read_text() and "&lt;script&gt;" in raw.read_text()


def test_the_oracle_run_has_a_transcript_per_run(tmp_path: Path) -> None:
    """Through the harness: results.json and report.html of a real (oracle) run carry them."""
    tasks = [TASKS["orders-customer-email"], TASKS["orders-top-uk-spender"]]
    summary = asyncio.run(
        run_eval(tasks, oracle_factory, RunOptions(modes=["code", "tools"]), model_name="oracle", oracle=True)
    )
    paths = write_reports(summary, tmp_path)
    data = json.loads(paths["results"].read_text())
    for r in data["results"]:
        assert r["transcript"][0] == {"kind": "user", "text": TASKS[r["task_id"]].prompt}
        assert len(r["calls"]) == r["host_calls"] > 0
        if r["mode"] == "code":
            assert [e["code"] for e in r["transcript"] if e["kind"] == "call"] == [
                TASKS[r["task_id"]].reference_program
            ]
    page = parse(paths["html"])
    assert len(page.details) == len(data["results"]) == 4
    for d in page.details.values():
        assert any(p.strip() for p in d["pre"])


def test_requests_without_a_transcript_still_render(tmp_path: Path) -> None:
    """Results written before transcripts existed (or made up) have none: the page says so."""
    r = TaskResult("t", "d", "code", 1, [], True, "ok", "1")
    page = parse(
        write_reports(RunSummary(model="m", oracle=False, modes=["code"], repeat=1, results=[r]), tmp_path)[
            "html"
        ]
    )
    (details,) = page.details.values()
    assert "(no message was recorded)" in " ".join(details["text"]) and "(none)" in " ".join(details["text"])


def test_a_request_is_a_message_too() -> None:
    """The transcript of a bare request/response history (no agent) reads the same parts."""
    from evals.transcript import transcript_of

    messages: list[ModelMessage] = [
        ModelRequest.user_text_prompt("q <1>"),
        ModelResponse(parts=[ToolCallPart("add", {"a": 1})]),
    ]
    assert transcript_of(messages, "Boom: x") == [
        {"kind": "user", "text": "q <1>"},
        {"kind": "call", "tool": "add", "args": '{"a":1}'},
        {"kind": "error", "text": "Boom: x"},
    ]
