"""Credit-code check (GB 32100-2015): properties and the known bad inputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casebus.contracts import uscc

pytestmark = pytest.mark.offline

KNOWN_VALID = "91310110666007217T"

body17 = st.text(alphabet=uscc.ALPHABET, min_size=2, max_size=2).flatmap(
    lambda head: st.builds(
        lambda division, org: head + division + org,
        st.text(alphabet="0123456789", min_size=6, max_size=6),
        st.text(alphabet=uscc.ALPHABET, min_size=9, max_size=9),
    )
)
valid_codes = body17.map(lambda b: b + uscc.check_character(b))


def test_known_valid_code() -> None:
    assert uscc.problem(KNOWN_VALID) is None
    assert uscc.check_character(KNOWN_VALID[:17]) == "T"


@given(valid_codes)
def test_every_generated_valid_code_passes(code: str) -> None:
    assert uscc.problem(code) is None


@given(valid_codes, st.integers(0, 17), st.sampled_from(uscc.ALPHABET))
def test_any_single_character_change_is_caught(code: str, position: int, ch: str) -> None:
    changed = code[:position] + ch + code[position + 1 :]
    if changed not in (code, uscc.PLACEHOLDER):  # the placeholder is valid by definition
        assert uscc.problem(changed) is not None


@given(st.text(max_size=30))
def test_normalisation_is_idempotent(raw: str) -> None:
    once = uscc.normalise(raw)
    assert uscc.normalise(once) == once


@given(valid_codes)
def test_normalisation_undoes_width_spacing_and_case(code: str) -> None:
    messy = " ".join(code[i : i + 4] for i in range(0, 18, 4)).lower()
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in messy)
    assert uscc.normalise(full_width) == code


def test_check_digit_message_names_both_characters() -> None:
    found = uscc.problem("91310110666007217K")
    assert found == ("uscc.check_digit", found.message) and found is not None
    assert "check digit is 'K', expected 'T'" in found.message


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("9131011066600721АT", "uscc.lookalike"),  # Cyrillic А
        ("91310110666007217Τ", "uscc.lookalike"),  # Greek Tau
        ("91310110666007217", "uscc.length"),
        ("913101106660072170T", "uscc.length"),
        ("91310110666007217O", "uscc.charset"),  # O is not used
        ("91310110666007217-", "uscc.charset"),
        ("91AB0110666007217T", "uscc.division"),
    ],
)
def test_bad_codes_report_their_rule(code: str, rule: str) -> None:
    found = uscc.problem(code)
    assert found is not None and found.rule == rule


def test_placeholder_is_not_a_check_failure() -> None:
    assert uscc.problem(uscc.PLACEHOLDER) is None
