"""Log lines in both formats: the text people read, the JSON a log shipper indexes (offline)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from pythonjsonlogger.json import JsonFormatter

from casebus import logs
from cli import build_parser, main
from pipeline.items import Provenance

pytestmark = pytest.mark.offline


def lines_of(err: str, logger: str) -> list[dict[str, object]]:
    """The JSON lines of one logger (a Kafka client of an earlier test may still log)."""
    lines = [json.loads(ln) for ln in err.splitlines() if ln.startswith("{")]
    return [ln for ln in lines if ln.get("logger") == logger]


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, bound = root.handlers[:], root.level, dict(logs._bound)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs._bound.clear()
    logs._bound.update(bound)


def test_a_json_line_carries_the_process_and_the_event(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json")
    logs.bind(service="sync", agency="510500-SAMR", platform=None)
    where = Provenance("casebus.penalty", 3, 1207)
    logging.getLogger("pipeline.dlq").warning(
        "to DLQ %s: %s",
        "casebus.dlq.sync",
        "UnknownKey",
        extra=logs.at(where, outcome="dead-lettered", reason="UnknownKey", event_id=None),
    )
    (line,) = lines_of(capsys.readouterr().err, "pipeline.dlq")
    assert line["message"] == "to DLQ casebus.dlq.sync: UnknownKey"
    assert line["level"] == "WARNING" and line["logger"] == "pipeline.dlq" and line["time"]
    assert line["service"] == "sync" and line["agency"] == "510500-SAMR"
    assert (line["topic"], line["partition"], line["offset"]) == ("casebus.penalty", 3, 1207)
    assert line["outcome"] == "dead-lettered" and line["reason"] == "UnknownKey"
    assert "platform" not in line and "event_id" not in line  # None leaves a field out


def test_chinese_stays_readable_and_an_exception_is_one_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("json")
    try:
        raise ValueError("统一社会信用代码校验码错误")
    except ValueError:
        logging.getLogger("x").exception("拒收")
    err = capsys.readouterr().err
    broken = [ln for ln in err.splitlines() if "ValueError" in ln and not ln.startswith("{")]
    assert not broken, "a traceback must not break the line"
    lines = lines_of(err, "x")
    assert len(lines) == 1
    (line,) = lines
    assert line["message"] == "拒收" and "统一社会信用代码" in line["exc_info"]


def test_the_text_format_is_the_message_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("text")
    logs.bind(service="feeds")
    logging.getLogger("services.feeds").info("restored feed state: %d leads", 3)
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if "services.feeds" in ln]
    assert line.endswith("INFO services.feeds: restored feed state: 3 leads")
    assert "{" not in line


@pytest.mark.parametrize(
    ("argv", "env", "json_lines"),
    [
        (["--log-format", "json"], None, True),
        ([], "json", True),
        (["--log-format", "text"], "json", False),  # the flag wins
        ([], None, False),
    ],
)
def test_the_flag_or_the_environment_choose_the_format(
    argv: list[str], env: str | None, json_lines: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env is None:
        monkeypatch.delenv("CASEBUS_LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("CASEBUS_LOG_FORMAT", env)
    assert main([*argv, "sync", "run", "NONE"]) == 2
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "casebus", False)]
    assert isinstance(handler.formatter, JsonFormatter) is json_lines
    assert logs._bound["service"] == "sync"


def test_an_unknown_format_is_refused_naming_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--log-format", "xml", "status"])
    assert "choose from 'text', 'json'" in capsys.readouterr().err
