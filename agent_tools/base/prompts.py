"""The texts the model reads, loaded from the Markdown templates in `prompts/`.

The templates live at the top of the repository (`prompts/`) so they read as
documents; the wheel ships them as `agent_tools/prompts/` (see pyproject).
Templates use `string.Template` fields (`$catalog`); hints are `##` sections of
`hints.md` with `str.format` fields (`{name}`).
"""

from __future__ import annotations

import functools
import re
import string
from pathlib import Path

__all__ = ["hint", "prompt_dir", "render", "template_text"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
"""`agent_tools/`: this module lives in `agent_tools/base/`."""


def prompt_dir() -> Path:
    """`agent_tools/prompts` in an installed wheel; the repository's `prompts/`
    in a source checkout or an editable install."""
    for candidate in (_PACKAGE_DIR / "prompts", _PACKAGE_DIR.parent / "prompts"):
        if (candidate / "run_code.md").is_file():
            return candidate
    raise FileNotFoundError(f"agent-tools prompt templates not found next to {_PACKAGE_DIR}")


@functools.cache
def template_text(name: str) -> str:
    """The raw text of `prompts/<name>.md`."""
    return (prompt_dir() / f"{name}.md").read_text(encoding="utf-8")


def render(name: str, **fields: str) -> str:
    """`prompts/<name>.md` with its `$fields` filled in; a missing field is an error."""
    return string.Template(template_text(name)).substitute(fields).strip() + "\n"


@functools.cache
def _hints() -> dict[str, str]:
    sections = re.split(r"^## +", template_text("hints"), flags=re.MULTILINE)[1:]
    out: dict[str, str] = {}
    for section in sections:
        key, _, body = section.partition("\n")
        out[key.strip()] = " ".join(body.split())
    return out


def hint(key: str, **fields: object) -> str:
    """The hint `key` from `prompts/hints.md`, its `{fields}` filled in."""
    return _hints()[key].format(**fields)
