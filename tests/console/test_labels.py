"""How the console words stored values: personal values it may not open are never shown as
ciphertext."""

from __future__ import annotations

import os

import pytest

from casebus.personal.envelope import ERASED, UNREADABLE, seal
from services.console.labels import PERSONAL_MARKERS, SEALED_TEXT, display

pytestmark = pytest.mark.offline


def test_sealed_values_and_markers_are_said_in_words() -> None:
    sealed = seal(os.urandom(32), "0" * 32, "510502198703150047", b"510500-SAMR/P1/id")
    assert display(sealed) == SEALED_TEXT
    assert display(ERASED) == PERSONAL_MARKERS[ERASED]
    assert display(UNREADABLE) == PERSONAL_MARKERS[UNREADABLE]
    informant = {"name": sealed, "phone": ERASED, "confidential": True}
    shown = display(informant)
    assert "casebus-fle1" not in shown and SEALED_TEXT in shown
    assert display("王小明") == "王小明"  # anything else as it is
