"""Printed output cut by `max_output_bytes` in the middle of a secret keeps no part
of it: the output is redacted before it is cut."""

from __future__ import annotations

from typing import Any

import pytest

import agent_tools as at

SHAPES = {
    "short": "hunter2-XYZ",
    "long": "tok_" + "A1b2C3d4" * 25,
    "non-ascii": "clé-sécrète-ünïcødé-🔑-" * 3,
}


def probe(value: str) -> int:
    return len(value)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("offset", [1, 5, 10])
@pytest.mark.parametrize("flood", [False, True])
def test_output_cut_inside_a_secret_keeps_no_part_of_it(
    shape: str, offset: int, flood: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = SHAPES[shape]
    monkeypatch.setenv("API_TOKEN", secret)
    cap = 200
    # the secret starts `offset` bytes before the cap, so a cut at the cap splits it
    pad = "p" * (cap - offset)
    tail = "\nwhile True:\n    print('more')" if flood else ""
    t = at.orchestrator_from_str(
        f"import os\nprint({pad!r} + os.getenv('API_TOKEN'), end='')" + tail,
        inputs={},
        secrets=["API_TOKEN"],
        plugin_config=at.SandboxedConfig(max_output_bytes=cap),
    )
    with pytest.raises(at.OutputLimitError) as info:
        t()
    record = info.value.record
    assert record is not None
    printed = record.stdout
    assert len(printed.encode()) <= cap
    assert printed.startswith(pad[:50])
    for size in (4, 6, len(secret)):
        assert secret[:size] not in printed.replace(pad, "")


@pytest.mark.parametrize("face", ["code_runner", "template"])
def test_model_text_after_an_output_cut_holds_no_secret_prefix(
    face: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-" + "Z9y8X7w6" * 20
    monkeypatch.setenv("API_TOKEN", secret)
    code = "import os\nwhile True:\n    print('x' * 37 + os.getenv('API_TOKEN'))"
    config = at.SandboxedConfig(max_output_bytes=300)
    if face == "code_runner":
        reply = at.CodeRunner([probe], secrets=["API_TOKEN"], plugin_config=config).run(code)
        text: Any = reply.text
    else:
        t = at.orchestrator_from_str(code, inputs={}, secrets=["API_TOKEN"], plugin_config=config)
        with pytest.raises(at.OutputLimitError) as info:
            t()
        text = str(info.value) + (info.value.record.stdout if info.value.record else "")
    assert "sk-Z9y8" not in text
