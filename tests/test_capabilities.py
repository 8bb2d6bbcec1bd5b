"""Every claim of the capability sheet holds for the installed Monty."""

from __future__ import annotations

import pytest

from agent_tools.tool.capabilities import CLAIMS, SECTIONS, Claim, capability_sheet, check_claim


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.text[:48] for c in CLAIMS])
def test_claim_holds(claim: Claim) -> None:
    assert check_claim(claim) is None


def test_claim_texts_are_unique() -> None:
    texts = [c.text for c in CLAIMS]
    assert len(set(texts)) == len(texts)


def test_the_compact_sheet_lists_the_essential_claims_only() -> None:
    sheet = capability_sheet()
    essential = [c for c in CLAIMS if c.essential]
    assert 8 <= len(essential) < len(CLAIMS)
    assert sheet == "".join(f"- {c.text}\n" for c in essential)
    assert "##" not in sheet  # no headings, let alone empty ones
    assert len(sheet) < 1_600


def test_sheet_lists_every_claim_under_its_section() -> None:
    sheet = capability_sheet(full=True)
    for section in SECTIONS:
        assert f"## {section}\n" in sheet
    for claim in CLAIMS:
        assert f"- {claim.text}\n" in sheet
        # listed after its own heading and before the next one
        start = sheet.index(f"## {claim.section}\n")
        later = [sheet.index(f"## {s}\n") for s in SECTIONS if sheet.index(f"## {s}\n") > start]
        assert start < sheet.index(f"- {claim.text}\n") < min(later, default=len(sheet))
    assert capability_sheet(full=True) == sheet


@pytest.mark.parametrize(
    ("check", "expect", "says"),
    [
        ("import heapq", "ok", "ModuleNotFoundError"),
        ("1 + 1", "ok:3", "was 2"),
        ("1 + 1", "error:ValueError", "it ran and returned 2"),
        ("del x", "error:ValueError", "NotImplementedError"),
        ("print('a')", "printed:'b\\n'", "printed 'a\\n'"),
        ("double(1)", "ok:3", "was 2"),
    ],
)
def test_a_false_claim_is_reported(check: str, expect: str, says: str) -> None:
    message = check_claim(Claim("Modules", "A false claim.", check, expect))
    assert message is not None
    assert says in message


def test_claims_validate_their_fields() -> None:
    with pytest.raises(ValueError, match="expect"):
        Claim("Modules", "x", "1", "fine")
    with pytest.raises(ValueError, match="section"):
        Claim("Nowhere", "x", "1", "ok")
