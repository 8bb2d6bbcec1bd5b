"""Secret values stay out of everything a run leaves behind.

A template declares a secret; the code reads it with `os.getenv` and passes it to
registered functions, which need (and get) the real value. Whatever goes wrong,
nothing recorded about the run may hold the value, an escaped form of it (repr of
a str or of its UTF-8 bytes, JSON with and without `ensure_ascii`) or its first 20
characters (what a repr cut short would leave): not the error (str, message, args,
`exc_message`, `call_args` / `call_kwargs`, traceback, frames, the whole
`__cause__` / `__context__` chain and its rendering by `traceback`), not the record
(stdout, calls, result, every attempt's error with `retries=2`), not the value the
run returns, not the text the model reads (`CodeRunner.run(...).text`).

Each case runs for each secret shape (short, 200 characters, a multi-line PEM key,
non-ASCII, quotes and backslashes) and each entry point (`template()`, `at.run`,
`await template.aio()`, `CodeRunner(...).run(code)`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pydantic
import pydantic_core
import pytest

import agent_tools as at
from agent_tools.base import errors
from agent_tools.base.errors import FatalToolError, short_repr
from agent_tools.task.redaction import Redactor

pytestmark = pytest.mark.usefixtures("healthy")

ENV = "TOKEN"
PLACEHOLDER = f"[secret {ENV}]"

_LONG_BODY = "".join(f"{n:04x}Zq" for n in range(40))
SHAPES: dict[str, str] = {
    "short": "s3cr3t-Short-Zx81",
    "long": ("tok_live_" + _LONG_BODY * 2)[:200],
    "pem": (
        "-----BEGIN TEST PRIVATE KEY Zx81-----\n"
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"
        "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n"
        "-----END TEST PRIVATE KEY-----\n"
    ),
    "non_ascii": "clé-секрет-密钥-🔑-Zx81-ünïcødé",
    "quotes": "q'u\"o\\te\\\\d-Zx81'k\"\tend",
}
assert len(SHAPES["long"]) == 200


def _quoted(secret: str, quote: str) -> str:
    """The inside of a str repr written between `quote`s (Python picks one style)."""
    escapes = {"\\": "\\\\", quote: "\\" + quote}
    return "".join(escapes.get(c, c if c in "'\"" else repr(c)[1:-1]) for c in secret)


def escaped_forms(secret: str) -> set[str]:
    """The value and the forms it takes inside a repr or a JSON string."""
    return {
        secret,
        repr(secret)[1:-1],
        _quoted(secret, "'"),
        _quoted(secret, '"'),
        ascii(secret)[1:-1],
        repr(secret.encode())[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        pydantic_core.to_json(secret).decode()[1:-1],
    }


def forbidden(secret: str) -> list[str]:
    """What no recorded text may hold: each form, and the first 20 characters of each."""
    forms = escaped_forms(secret)
    return sorted(forms | {form[:20] for form in forms}, key=len, reverse=True)


# -- what the registered functions do with the secret -----------------------------------------


class Creds(pydantic.BaseModel):
    user: str
    token: str


@dataclasses.dataclass
class CredsRecord:
    user: str
    token: str


class VaultDown(FatalToolError):
    """A failure the model cannot fix, which holds the secret."""


@dataclasses.dataclass
class Case:
    name: str
    code: str
    tasks: list[Callable[..., Any]]
    output: Any = Any
    ok: bool = False
    """Whether the run succeeds."""
    min_chain: int = 0
    """How many links the exception chain below a registered function's error has."""
    error: type[BaseException] | None = None
    """The error `CodeRunner.run` raises instead of answering the model."""


def _secret_of(token: str) -> str:
    """The function got the real value (not a redacted one)."""
    assert token == os.environ[ENV], "a registered function must get the secret itself"
    return token


def check(token: str) -> str:
    """Check a token with the auth service."""
    raise PermissionError(f"rejected token {_secret_of(token)}")


def check_nested(token: str, extra: dict[str, list[str]]) -> str:
    """Check a token, with extra headers."""
    raise PermissionError(f"rejected {extra!r} / {_secret_of(token)!r}")


def lookup(token: str) -> str:
    """Look a token up; the secret sits in the context two links down."""
    try:
        return {"known": "x"}[_secret_of(token)]
    except KeyError:
        raise PermissionError("unknown token")  # noqa: B904 - the context is the point


def verify(token: str) -> str:
    """Verify a token; the secret sits three links down, the middle one suppressed."""
    try:
        try:
            raise KeyError(_secret_of(token))
        except KeyError as inner:
            raise RuntimeError("token store lookup failed") from inner
    except RuntimeError:
        raise PermissionError("verification failed") from None


def login(token: str) -> Creds:
    """Log in; the credentials hold the token."""
    return Creds(user="me", token=_secret_of(token))


def login_record(token: str) -> CredsRecord:
    """Log in; the credentials (a dataclass) hold the token."""
    return CredsRecord(user="me", token=_secret_of(token))


def unseal(token: str) -> str:
    """Unseal the vault."""
    raise VaultDown(f"the vault is down (token {_secret_of(token)})")


READ = 'import os\ntoken = os.getenv("TOKEN") or ""\nprint("using", token)\n'

CASES = [
    Case("host_raises", READ + "check(token)", [check], min_chain=1),
    Case(
        "host_raises_nested_args",
        READ + 'check_nested(token, extra={"auth": [token, "x"]})',
        [check_nested],
        min_chain=1,
    ),
    Case("host_raises_in_except", READ + "lookup(token)", [lookup], min_chain=2),
    Case("host_raises_deep_chain", READ + "verify(token)", [verify], min_chain=3),
    Case("result_model", READ + "login(token)", [login], output=Creds, ok=True),
    Case("result_dataclass", READ + "login_record(token)", [login_record], output=CredsRecord, ok=True),
    Case("code_raises", READ + 'raise ValueError("bad token: " + token)', []),
    Case("fatal_tool_error", READ + "unseal(token)", [unseal], min_chain=1, error=VaultDown),
]


# -- running a case through each entry point --------------------------------------------------


@dataclasses.dataclass
class Outcome:
    value: Any = None
    record: at.RunRecord | None = None
    error: BaseException | None = None
    text: str = ""
    """What the model reads (CodeRunner only)."""


def _template(case: Case) -> at.CodeTaskTemplate:
    return at.orchestrator_from_str(
        case.code,
        inputs={},
        output=case.output,
        tasks=case.tasks,
        secrets=ENV,
        retries=2,
        debuggable=True,
    )


def _failed(err: at.SandboxError) -> Outcome:
    return Outcome(record=err.record, error=err)


async def via_call(case: Case) -> Outcome:
    try:
        return Outcome(value=_template(case)())
    except at.SandboxError as err:
        return _failed(err)


async def via_run(case: Case) -> Outcome:
    try:
        record = at.run(_template(case))
    except at.SandboxError as err:
        return _failed(err)
    return Outcome(value=record.result, record=record)


async def via_aio(case: Case) -> Outcome:
    try:
        return Outcome(value=await _template(case).aio())
    except at.SandboxError as err:
        return _failed(err)


async def via_code_runner(case: Case) -> Outcome:
    runner = at.CodeRunner(case.tasks, secrets=ENV, retries=2, debuggable=True)
    try:
        reply = runner.run(case.code)
    except FatalToolError as exc:
        return Outcome(error=exc)
    return Outcome(value=None, record=reply.record, error=reply.error, text=reply.text)


ENTRIES: dict[str, Callable[[Case], Awaitable[Outcome]]] = {
    "call": via_call,
    "run": via_run,
    "aio": via_aio,
    "code_runner": via_code_runner,
}


# -- everything recorded ------------------------------------------------------------------------


def chain(exc: BaseException | None) -> Iterator[BaseException]:
    """`exc` and every exception below it (`__cause__` and `__context__`), once each."""
    seen: set[int] = set()
    stack = [exc] if exc is not None else []
    while stack:
        link = stack.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        stack += [x for x in (link.__cause__, link.__context__) if x is not None]


def _exception_texts(label: str, exc: BaseException | None) -> list[tuple[str, str]]:
    if exc is None:
        return []
    texts = [(f"{label} traceback.format_exception", "".join(traceback.format_exception(exc)))]
    for n, link in enumerate(chain(exc)):
        where = f"{label} link {n} ({type(link).__name__})"
        texts += [
            (f"{where} str", str(link)),
            (f"{where} args", repr(link.args)),
            (f"{where} repr", repr(link)),
        ]
        texts.append((f"{where} attributes", repr(vars(link))))
        if isinstance(link, at.SandboxError):
            texts += _error_fields(where, link)
    return texts


def _error_fields(label: str, err: at.SandboxError) -> list[tuple[str, str]]:
    texts = [
        (f"{label} message", err.message),
        (f"{label} hint", err.hint or ""),
        (f"{label} traceback", err.traceback or ""),
        (f"{label} frames", repr(err.frames)),
    ]
    if isinstance(err, at.SandboxRuntimeError):
        texts.append((f"{label} exc_message", err.exc_message))
    if isinstance(err, at.HostFunctionError):
        texts += [
            (f"{label} call_args", repr(err.call_args)),
            (f"{label} call_kwargs", repr(err.call_kwargs)),
        ]
    return texts


def recorded_texts(outcome: Outcome) -> list[tuple[str, str]]:
    texts: list[tuple[str, str]] = [("value", repr(outcome.value)), ("model text", outcome.text)]
    texts += _exception_texts("error", outcome.error)
    record = outcome.record
    if record is not None:
        texts += [
            ("record.stdout", record.stdout),
            ("record.calls", repr(record.calls)),
            ("record.result", repr(record.result)),
            ("record.traceback", record.traceback or ""),
            ("record.frames", repr(record.frames)),
            ("record.errors", repr(record.errors)),
        ]
        for n, call in enumerate(record.calls):
            texts += _exception_texts(f"call {n} error", call.error)
        for n, err in enumerate(record.errors):
            texts += _exception_texts(f"attempt {n + 1} error", err)
    return texts


def assert_no_secret(secret: str, outcome: Outcome) -> None:
    fragments = forbidden(secret)
    leaks = [
        f"{label}: {fragment!r} in {text[:300]!r}"
        for label, text in recorded_texts(outcome)
        for fragment in fragments
        if fragment in text
    ]
    assert not leaks, "\n".join(leaks[:10])


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", list(ENTRIES))
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_secret_stays_out_of_everything_recorded(
    case: Case, shape: str, entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = SHAPES[shape]
    monkeypatch.setenv(ENV, secret)
    outcome = await ENTRIES[entry](case)
    assert_no_secret(secret, outcome)

    # The run went where the case says, so the checks above saw the secret's path.
    if case.error is not None and entry == "code_runner":
        assert type(outcome.error) is case.error  # still the class the caller catches
        assert PLACEHOLDER in str(outcome.error)
        return
    if case.ok:
        assert outcome.error is None, outcome.error
        if entry != "code_runner":  # CodeRunner returns plain data (output=Any)
            assert isinstance(outcome.value, case.output)
            assert outcome.value.token == PLACEHOLDER
        else:
            assert PLACEHOLDER in outcome.text
    else:
        error = outcome.error
        assert isinstance(error, at.SandboxError), error
        assert PLACEHOLDER in str(error) or PLACEHOLDER in repr(vars(error)), str(error)
        if entry == "code_runner":
            assert PLACEHOLDER in outcome.text
    record = outcome.record
    if record is not None:
        assert PLACEHOLDER in record.stdout
        if case.tasks:
            assert record.calls and record.calls[0].args == (PLACEHOLDER,)
        if case.min_chain:
            assert len(record.errors) == 3  # retries=2: every attempt failed
            for err in record.errors:
                assert len(list(chain(err))) > case.min_chain  # the walk kept the chain


@pytest.mark.parametrize("shape", list(SHAPES))
def test_host_error_below_the_first_link_is_redacted_not_dropped(
    shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The KeyError holding the secret, three links down, is still there (redacted)."""
    secret = SHAPES[shape]
    monkeypatch.setenv(ENV, secret)
    deep = next(case for case in CASES if case.name == "host_raises_deep_chain")
    with pytest.raises(at.HostFunctionError) as info:
        _template(deep)()
    permission = info.value.__cause__
    assert type(permission) is PermissionError and permission.__suppress_context__
    lookup_failed = permission.__context__
    assert type(lookup_failed) is RuntimeError and lookup_failed.args == ("token store lookup failed",)
    missing = lookup_failed.__cause__
    assert type(missing) is KeyError and missing.args == (PLACEHOLDER,)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_fatal_tool_error_keeps_its_class(shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = SHAPES[shape]
    monkeypatch.setenv(ENV, secret)
    runner = at.CodeRunner([unseal], secrets=ENV)
    with pytest.raises(VaultDown) as info:
        runner.run(READ + "unseal(token)")
    assert str(info.value) == f"the vault is down (token {PLACEHOLDER})"
    assert isinstance(info.value, at.FatalToolError)


# -- the redactor on its own ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_escaped_form_is_replaced(shape: str) -> None:
    secret = SHAPES[shape]
    redactor = Redactor({ENV: secret})
    shown = [
        secret,
        repr(secret),
        ascii(secret),
        repr(secret.encode()),
        json.dumps(secret),
        json.dumps(secret, ensure_ascii=False),
        pydantic_core.to_json(secret).decode(),
        json.dumps({"k": [secret]}),
        repr(json.dumps(secret)),
        json.dumps(repr(secret)),
        repr([secret, (secret,)]),
        f"before {secret!r} after {secret}",
    ]
    for text in shown:
        out = redactor.text(text)
        assert PLACEHOLDER in out
        assert not any(fragment in out for fragment in forbidden(secret)), out
    assert redactor.redact_bytes(b"<" + secret.encode() + b">") == f"<{PLACEHOLDER}>".encode()


@pytest.mark.parametrize("shape", list(SHAPES))
def test_short_repr_redacts_before_cutting(shape: str) -> None:
    secret = SHAPES[shape]
    redactor = Redactor({ENV: secret})
    with errors.redaction_scope(redactor.text):
        text = errors.format_call("f", ["x" * 70 + secret], {"key": {"deep": [secret]}})
        cut = short_repr(secret + "y" * 500, 40)
    assert not any(fragment in text + cut for fragment in forbidden(secret)), text
    assert cut.startswith(repr(PLACEHOLDER + "y")[:-1])
    assert errors.format_call("f", ["abc"], {}) == "f('abc')"  # no run under way: unchanged


def test_the_redaction_variable_follows_tokens() -> None:
    redactor = Redactor({ENV: "abc-secret-123"})
    assert errors.redact_text("abc-secret-123") == "abc-secret-123"
    token = errors.redacting(redactor.text)
    try:
        assert errors.redact_text("x abc-secret-123") == f"x {PLACEHOLDER}"
        assert short_repr("abc-secret-123") == repr(PLACEHOLDER)
    finally:
        errors.stop_redacting(token)
    assert short_repr("abc-secret-123") == "'abc-secret-123'"


@dataclasses.dataclass(frozen=True, slots=True)
class Frozen:
    token: str
    model: Creds


class Plain:
    def __init__(self, token: str) -> None:
        self.token = token
        self.me = self


class Hidden:
    """Holds the secret where no walk can reach it; its repr shows it."""

    __slots__ = ("_get",)

    def __init__(self, token: str) -> None:
        self._get = lambda: token

    def __repr__(self) -> str:
        return f"Hidden({self._get()!r})"


def test_models_dataclasses_and_objects_are_copied_redacted() -> None:
    secret = SHAPES["pem"]
    redactor = Redactor({ENV: secret})
    creds = Creds(user="me", token=secret)
    value = {
        "model": creds,
        "frozen": Frozen(secret, creds),
        "plain": Plain(secret),
        "hidden": Hidden(secret),
        "tuple": (secret, 1),
        "set": {secret},
        "frozenset": frozenset({secret}),
        "clean": ["nothing", 1],
    }
    out = redactor.value(value)
    assert isinstance(out["model"], Creds) and out["model"].token == PLACEHOLDER
    assert isinstance(out["frozen"], Frozen) and out["frozen"].model is out["model"]  # shared: copied once
    assert isinstance(out["plain"], Plain) and out["plain"].me is out["plain"]  # the cycle kept
    assert out["hidden"] == "[redacted Hidden]"
    assert out["tuple"] == (PLACEHOLDER, 1) and out["set"] == {PLACEHOLDER}
    assert out["frozenset"] == frozenset({PLACEHOLDER})
    assert out["clean"] is value["clean"]  # what holds no secret is not copied
    assert creds.token == secret  # the originals are untouched
    assert not any(fragment in repr(out) for fragment in forbidden(secret))


def test_shared_values_are_redacted_once() -> None:
    """`a = [a, a]` thirty times over: 2**30 paths, 30 distinct lists."""
    secret = SHAPES["long"]
    redactor = Redactor({ENV: secret})
    value: Any = {"token": secret}
    for _ in range(30):
        value = [value, value]
    cyclic: list[Any] = [secret]
    cyclic.append(cyclic)
    out, out_cyclic = redactor.value([value, cyclic])
    for _ in range(30):
        assert out[0] is out[1]
        out = out[0]
    assert out == {"token": PLACEHOLDER}
    assert out_cyclic[0] == PLACEHOLDER and out_cyclic[1] is out_cyclic


def test_exception_chains_are_walked_whole() -> None:
    secret = SHAPES["quotes"]
    redactor = Redactor({ENV: secret})

    class NeedsKeywords(Exception):
        def __init__(self, message: str, *, code: int) -> None:
            super().__init__(message)
            self.code = code
            self.detail = message

    try:
        try:
            try:
                raise OSError(2, "no such file", secret)
            except OSError as exc:
                raise NeedsKeywords(f"lookup of {secret}", code=7) from exc
        except NeedsKeywords:
            raise ValueError("clean at the top")  # noqa: B904 - the context is the point
    except ValueError as top:
        original = top
    cycle_a, cycle_b = LookupError(secret), LookupError("b")
    cycle_a.__context__, cycle_b.__context__ = cycle_b, cycle_a

    out = redactor.exception(original)
    links = list(chain(out))
    assert [type(link) for link in links] == [ValueError, NeedsKeywords, FileNotFoundError]
    assert getattr(links[1], "code", None) == 7
    assert getattr(links[1], "detail", None) == f"lookup of {PLACEHOLDER}"
    assert links[2].args == (2, "no such file")  # its filename held the secret
    rendered = "".join(traceback.format_exception(out))
    assert not any(fragment in rendered for fragment in forbidden(secret)), rendered
    assert secret in str(original.__context__)  # the original chain is untouched

    out_cycle = redactor.exception(cycle_a)
    assert out_cycle.args == (PLACEHOLDER,)
    assert out_cycle.__context__ is not None and out_cycle.__context__.__context__ is out_cycle


@pytest.mark.parametrize(
    "make",
    [
        lambda s: StopIteration(s),
        lambda s: StopIteration({"token": s}),
        lambda s: SyntaxError("bad", ("main.py", 1, 1, s)),
        lambda s: UnicodeDecodeError("utf-8", s.encode(), 0, 1, "bad byte"),
        lambda s: ImportError("no module", path=s),
        lambda s: ImportError("no module", name=s),
        lambda s: OSError(2, "not found", s),
        lambda s: KeyError(s),
    ],
)
def test_fields_builtin_exceptions_keep_outside_their_args_are_redacted(make: Any) -> None:
    secret = "hunter2-" + "Q" * 40
    exc = make(secret)
    out = Redactor({"API_TOKEN": secret}).exception(exc)
    texts = [str(out), repr(out)]
    for name in dir(out):
        if not name.startswith("__"):
            texts.append(repr(getattr(out, name, None)))
    assert not any(secret[:12] in text for text in texts), texts
