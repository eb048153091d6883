"""`casebus personal erase | erasures`, offline: a var folder of the test's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casebus.config import load_settings
from casebus.personal.keystore import KeyStore
from casebus.provenance.keys import ensure_keys
from cli import main

pytestmark = pytest.mark.offline


def test_erase_and_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CASEBUS_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CASEBUS_PROVENANCE__KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("CASEBUS_PERSONAL__KEK_DIR", str(tmp_path / "kek"))
    settings = load_settings()
    ensure_keys(settings)
    keys = KeyStore.of(settings, create=True)
    made = keys.data_key("510500-SAMR", "510502198001011235")
    assert made is not None

    assert (
        main(
            [
                "personal",
                "erase",
                "--subject",
                "510502 19800101 1235",
                "--agency",
                "510500-SAMR",
                "--by",
                "张三",
                "--reason",
                "当事人申请",
            ]
        )
        == 0
    )
    assert "1 data keys destroyed" in capsys.readouterr().out
    later = KeyStore.of(settings, create=True)  # a producer started after the erasure
    assert later.open_key(made.key_id) is None
    assert later.data_key("510500-SAMR", "510502198001011235") is None  # no new key either

    assert main(["personal", "erasures", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["key_ids"] == [made.key_id] and entry["signature_ok"] is True
    assert entry["erased_by"] == "张三 (510500-SAMR)" and entry["reason"] == "当事人申请"
    assert "510502198001011235" not in (tmp_path / "personal" / "keys.sqlite").read_bytes().decode(
        "latin-1"
    )
    assert main(["personal", "erase", "--subject", "1", "--agency", "PLATFORM-JD"]) != 0
