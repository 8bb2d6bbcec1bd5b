"""Escape attempts: imports, the filesystem, introspection, eval/exec, the host
environment, the clock and entropy. Each must fail inside the sandbox (or be
harmless) and leave the host as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import agent_tools as at

from ._harness import Case, Context, Outcome, check_case, params

pytestmark = pytest.mark.usefixtures("healthy")

RTE = at.SandboxRuntimeError
TOKEN = "tok-adversarial-123456"


def denied(id: str, code: str, exc_type: str = "PermissionError") -> Case:
    return Case(id, code, RTE, exc_type)


def missing_module(name: str) -> Case:
    return Case(f"import_{name.replace('.', '_')}", f"import {name}", RTE, "ModuleNotFoundError")


def sent(x: str) -> str:
    """Receives whatever the code passes; the sandbox gets it back."""
    return x


def _same_on_a_second_run(outcome: Outcome, ctx: Context) -> None:
    again = at.orchestrator_from_str("hash('abc'), hash(b'x'), hash((1, 'a'))", inputs={}, output=Any)()
    assert outcome.result == again, "hash() differs between runs: an entropy source"


def _secret_redacted(outcome: Outcome, ctx: Context) -> None:
    record = outcome.record
    assert record is not None
    assert record.result == ["[secret API_TOKEN]", {"API_TOKEN": "[secret API_TOKEN]"}]
    assert TOKEN not in record.stdout and TOKEN not in repr(record.calls)
    assert record.calls[0].args == ("[secret API_TOKEN]",)


def _secret_not_in_error(outcome: Outcome, ctx: Context) -> None:
    assert TOKEN not in str(outcome.error) and "[secret API_TOKEN]" in str(outcome.error)


def _report_escaped(outcome: Outcome, ctx: Context) -> None:
    assert outcome.record is not None and outcome.record.report_path is not None
    html = Path(outcome.record.report_path).read_text(encoding="utf-8")
    assert "alert(" in html  # the code is in the page ...
    for raw in ("<script>alert", "<img src=x", "</script><script>"):
        assert raw not in html, f"unescaped {raw!r} in the report"  # ... but only as text


IMPORTS = [
    Case("import_os_system", "import os\nos.system('touch MARKER')", RTE, "AttributeError"),
    Case("import_os_popen", "import os\nos.popen('id')", RTE, "AttributeError"),
    Case("import_os_open_fd", "import os\nos.open('MARKER', 65)", RTE, "AttributeError"),
    Case("import_sys_modules", "import sys\nsys.modules['os']", RTE, "AttributeError"),
    Case("sys_path", "import sys\nsys.path", RTE, "AttributeError"),
    *(
        missing_module(name)
        for name in (
            "subprocess",
            "socket",
            "ctypes",
            "importlib",
            "builtins",
            "multiprocessing",
            "threading",
            "signal",
            "pickle",
            "shutil",
            "tempfile",
            "io",
            "urllib.request",
        )
    ),
    Case(
        "from_import_subprocess",
        "from subprocess import run\nrun(['touch', 'MARKER'])",
        RTE,
        "ModuleNotFoundError",
    ),
    Case(
        "asyncio_subprocess",
        "import asyncio\nasyncio.create_subprocess_exec('touch', 'MARKER')",
        RTE,
        "AttributeError",
    ),
    Case(
        "asyncio_network", "import asyncio\nasyncio.open_connection('example.com', 80)", RTE, "AttributeError"
    ),
]

FILES = [
    denied("open_etc_passwd", "open('/etc/passwd').read()"),
    denied("open_proc_self_environ", "open('/proc/self/environ').read()"),
    denied("open_proc_self_mem", "open('/proc/self/mem', 'rb').read(16)"),
    denied("open_write_marker", "open('MARKER', 'w').write('x')"),
    denied("open_append_host_file", "open('HOST_FILE', 'a').write('pwned')"),
    denied("open_write_relative", "open('escaped.txt', 'w').write('x')"),
    denied("open_write_dotdot", "open('../../../../MARKER', 'w').write('x')"),
    denied("open_write_tmp", "open('/tmp/agent_tools_adversarial.txt', 'w').write('x')"),
    denied("open_dev_stdout", "open('/dev/stdout', 'w').write('x')"),
    Case("open_file_descriptor", "open(1, 'w').write('x')", RTE, "TypeError"),
    denied("pathlib_read_etc_passwd", "from pathlib import Path\nPath('/etc/passwd').read_text()"),
    denied("pathlib_read_environ", "from pathlib import Path\nPath('/proc/self/environ').read_bytes()"),
    denied("pathlib_read_dotdot", "from pathlib import Path\nPath('../../etc/passwd').read_text()"),
    denied("pathlib_write_marker", "from pathlib import Path\nPath('MARKER').write_text('x')"),
    denied("pathlib_write_relative", "from pathlib import Path\nPath('escaped.txt').write_bytes(b'x')"),
    denied("pathlib_overwrite_host_file", "from pathlib import Path\nPath('HOST_FILE').write_text('pwned')"),
    denied("pathlib_mkdir", "from pathlib import Path\nPath('MARKER').mkdir()"),
    denied("pathlib_exists_probe", "from pathlib import Path\nPath('HOST_FILE').exists()"),
    denied("pathlib_unlink_host_file", "from pathlib import Path\nPath('HOST_FILE').unlink()"),
    denied("pathlib_rename_host_file", "from pathlib import Path\nPath('HOST_FILE').rename('MARKER')"),
    denied("pathlib_iterdir", "from pathlib import Path\nlist(Path('/tmp').iterdir())"),
    denied("os_listdir", "import os\nos.listdir('/')"),
    denied("os_remove_host_file", "import os\nos.remove('HOST_FILE')"),
    denied("os_stat", "import os\nos.stat('/etc/passwd')"),
    denied("os_path_exists", "import os\nos.path.exists('/etc/passwd')"),
    denied("os_chdir", "import os\nos.chdir('/tmp')"),
    Case("pathlib_cwd_is_virtual", "from pathlib import Path\nstr(Path.cwd())", result="/"),
]

INTROSPECTION = [
    Case("dunder_import", "__import__('os').system('touch MARKER')", at.UnknownFunctionError, "NameError"),
    Case("dunder_builtins", "__builtins__['open']('MARKER', 'w')", RTE, "NameError"),
    Case("class_mro", "().__class__.__mro__[-1].__subclasses__()", RTE, "AttributeError"),
    Case("object_subclasses", "object.__subclasses__()", RTE, "AttributeError"),
    Case("type_subclasses", "type(1).__subclasses__()", RTE, "AttributeError"),
    Case("class_bases", "class A:\n    pass\nA.__bases__", RTE, "AttributeError"),
    Case("class_dict", "class A:\n    pass\nA.__dict__", RTE, "AttributeError"),
    Case("function_globals", "def f():\n    pass\nf.__globals__['__builtins__']", RTE, "AttributeError"),
    Case("function_code", "(lambda: 0).__code__", RTE, "AttributeError"),
    Case("function_closure", "(lambda: 0).__closure__", RTE, "AttributeError"),
    Case("getattr_dunder_class", "getattr((), '__class__')", RTE, "AttributeError"),
    Case("getattr_dunder_globals", "def f():\n    pass\ngetattr(f, '__globals__')", RTE, "AttributeError"),
    Case("builtin_self", "getattr(print, '__self__')", RTE, "AttributeError"),
    Case("format_string_attribute", "'{0.__class__.__mro__}'.format(())", RTE, "AttributeError"),
    Case("fstring_class", "f'{().__class__}'", RTE, "AttributeError"),
    Case(
        "traceback_frame_globals",
        "try:\n    1 / 0\nexcept Exception as e:\n    r = e.__traceback__.tb_frame.f_globals\nr",
        RTE,
        "AttributeError",
    ),
    Case("generator_frame", "g = (x for x in [1])\ng.gi_frame.f_back", RTE, "AttributeError"),
    Case("globals_builtin", "globals()['__builtins__']", at.UnknownFunctionError, "NameError"),
    Case("vars_builtin", "vars()", at.UnknownFunctionError, "NameError"),
    Case("breakpoint", "breakpoint()", at.UnknownFunctionError, "NameError"),
    Case("locals_is_harmless", "locals()", result={}),
]

EVAL_EXEC = [
    Case("eval_plain", "eval('6 * 7')", result=42),
    Case("exec_plain", "exec('r = 5')\nr", result=5),
    # Either kind: the error's line is the eval'd string's (see exec_error_points_at_the_exec_line),
    # and which kind it gets depends on what that line of the user's code holds.
    Case("eval_import", "eval(\"__import__('os')\")", (RTE, at.UnknownFunctionError), "NameError"),
    Case("eval_builtins", "eval('__builtins__')", RTE, "NameError"),
    Case("eval_import_statement", "eval('import os')", at.SandboxSyntaxError),
    Case("eval_open", "eval('open')('MARKER', 'w').write('x')", RTE, "PermissionError"),
    Case("exec_os_system", "exec('import os\\nos.system(\"touch MARKER\")')", RTE, "AttributeError"),
    Case("exec_write", "exec(\"open('MARKER', 'w').write('x')\")", RTE, "PermissionError"),
    Case("exec_environ", "exec('import os\\nenv = dict(os.environ)')\nenv", result={}),
    Case("exec_clock", "exec('import time\\nt = time.time()')", RTE, "RuntimeError"),
    Case("exec_custom_builtins", "exec('x = 1', {'__builtins__': {'open': None}})\n'ran'", result="ran"),
    Case("eval_nested_eval", "eval(\"eval('__builtins__')\")", RTE, "NameError"),
    Case("eval_mro", "eval('().__class__.__mro__')", RTE, "AttributeError"),
    Case("compile", "compile('1', 'f', 'eval')", at.UnknownFunctionError, "NameError"),
    Case(
        "exec_error_points_at_the_exec_line",
        "a = 1\nexec('b = 2\\nc = 3\\nimport time\\nt = time.time()')\nd = 4",
        RTE,
        "RuntimeError",
        line=2,
    ),
]

ENVIRONMENT = [
    Case("os_environ", "import os\nos.environ", result={}),
    Case("getenv_path", "import os\nos.getenv('PATH')", result=None),
    Case("getenv_home", "import os\nos.getenv('HOME', 'unset')", result="unset"),
    Case(
        "getenv_host_variable",
        "import os\n(os.getenv('AGENT_TOOLS_PROBE'), os.environ.get('AGENT_TOOLS_PROBE'))",
        host_env={"AGENT_TOOLS_PROBE": "leaked"},
        result=(None, None),
    ),
    Case("environ_index_path", "import os\nos.environ['PATH']", RTE, "KeyError"),
    Case(
        "environ_set",
        "import os\nos.environ['PATH'] = '/evil'\nos.environ.clear()\nos.getenv('PATH')",
        result=None,
    ),
    Case("putenv", "import os\nos.putenv('PATH', '/evil')", RTE, "AttributeError"),
    Case(
        "declared_env_vars_only",
        "import os\nos.environ['MODE'] = 'hacked'\n(os.getenv('MODE'), os.getenv('PATH'), dict(os.environ))",
        options={"env_vars": {"MODE": "test"}},
        result=("test", None, {"MODE": "test"}),
    ),
    Case("expanduser", "import os\nos.path.expanduser('~')", result="~"),
    Case(
        "sys_identity",
        "import sys\n(sys.executable, sys.platform, sys.argv)",
        result=("", "monty", ["main.py"]),
    ),
    Case(
        "secret_is_redacted",
        "import os\ns = os.getenv('API_TOKEN')\nprint(s)\nsent(s)\n[s, dict(os.environ)]",
        tasks=(sent,),
        options={"secrets": "api-token"},
        host_env={"API_TOKEN": TOKEN},
        check=_secret_redacted,
    ),
    Case(
        "secret_in_error_is_redacted",
        "import os\nraise ValueError(os.getenv('API_TOKEN'))",
        RTE,
        "ValueError",
        options={"secrets": "api-token"},
        host_env={"API_TOKEN": TOKEN},
        check=_secret_not_in_error,
    ),
    Case(
        "report_html_is_escaped",
        "# </script><script>alert('code')</script>\nprint('<script>alert(1)</script>')\n"
        "sent('<img src=x onerror=alert(2)>')\nraise ValueError('<script>alert(3)</script>')",
        RTE,
        "ValueError",
        tasks=(sent,),
        options={"report": True, "name": "<script>alert(4)</script>"},
        check=_report_escaped,
    ),
]

CLOCK_AND_ENTROPY = [
    *(
        Case(f"clock_{name}", f"import {module}\n{call}", RTE, "RuntimeError")
        for name, module, call in (
            ("time_time", "time", "time.time()"),
            ("time_ns", "time", "time.time_ns()"),
            ("monotonic", "time", "time.monotonic()"),
            ("perf_counter", "time", "time.perf_counter()"),
            ("localtime", "time", "time.localtime()"),
            ("datetime_now", "datetime", "datetime.datetime.now()"),
            ("date_today", "datetime", "datetime.date.today()"),
        )
    ),
    *(
        Case(f"entropy_{name}", f"import {module}\n{call}", RTE, "RuntimeError")
        for name, module, call in (
            ("random", "random", "random.random()"),
            ("randint", "random", "random.randint(1, 6)"),
            ("choice", "random", "random.choice([1, 2])"),
            ("shuffle", "random", "random.shuffle([1, 2])"),
            ("seed_none", "random", "random.seed()\nrandom.random()"),
            ("unseeded_instance", "random", "random.Random().random()"),
            ("urandom", "os", "os.urandom(8)"),
        )
    ),
    Case("entropy_system_random", "import random\nrandom.SystemRandom()", RTE, "AttributeError"),
    Case("entropy_getrandom", "import os\nos.getrandom(8)", RTE, "AttributeError"),
    missing_module("uuid"),
    missing_module("secrets"),
    Case(
        "seeded_random_is_deterministic",
        "import random\nrandom.Random(1).random()",
        result=0.13436424411240122,
    ),
    Case("hash_is_deterministic", "hash('abc'), hash(b'x'), hash((1, 'a'))", check=_same_on_a_second_run),
    Case("sleep_within_limits", "import time\ntime.sleep(0.01)\n'slept'", result="slept"),
]

CASES = IMPORTS + FILES + INTROSPECTION + EVAL_EXEC + ENVIRONMENT + CLOCK_AND_ENTROPY


@pytest.mark.parametrize("case", params(CASES))
def test_escape(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_case(case, tmp_path, monkeypatch)
