"""The revision rule over one batch, in memory: no broker, no database (offline)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from agencydb.rows import RowBuilder
from casebus.events import Event
from casebus.records import RecordKey
from casebus.revisions import Outcome
from pipeline.apply import Decisions, Unforeseen, decide, row_builder
from pipeline.items import (
    VALID,
    Candidate,
    Filtered,
    Foreseen,
    Invalid,
    Prepared,
    Provenance,
    Refused,
)
from pipeline.prepare import prepare
from tests.sync.helpers import decoded, penalty

pytestmark = pytest.mark.offline

ROWS_DIALECT = sqlite.dialect()


def _rows() -> RowBuilder:
    return row_builder(ROWS_DIALECT)


def _item(event: Event, offset: int, **kwargs: Any) -> Prepared | Filtered | Foreseen:
    return prepare(decoded(event, offset), _rows(), None, **kwargs)


def _valid(event: Event, offset: int) -> Prepared:
    item = _item(event, offset)
    assert isinstance(item, Prepared)
    return item._replace(validity=VALID)


def _outcomes(decided: Decisions) -> list[Outcome]:
    return [r.outcome for r in decided.results]


def _stored(item: Candidate) -> dict[RecordKey, tuple[int, str]]:
    return {item.key: (item.revision, item.digest)}


def test_new_higher_lower_and_equal_revisions() -> None:
    stored = _valid(penalty("P-1", 2), 0)
    batch: list[Refused | Filtered | Candidate] = [
        _valid(penalty("P-1", 1), 1),  # lower: stale
        _valid(penalty("P-1", 2), 2),  # the same content: a duplicate
        _valid(penalty("P-1", 2, region="500110"), 3),  # same revision, other content
        _valid(penalty("P-1", 3), 4),  # higher: applied
        _valid(penalty("P-2", 1), 5),  # new: applied
    ]
    decided = decide(batch, _stored(stored))
    assert _outcomes(decided) == [
        Outcome.STALE,
        Outcome.DUPLICATE,
        Outcome.CONFLICT,
        Outcome.APPLIED,
        Outcome.APPLIED,
    ]
    assert sorted(decided.winners) == [3, 4]


def test_two_revisions_in_one_batch_resolve_as_one_by_one() -> None:
    batch: list[Refused | Filtered | Candidate] = [
        _valid(penalty("P-1", 1), 0),
        _valid(penalty("P-1", 3), 1),
        _valid(penalty("P-1", 2), 2),
    ]
    decided = decide(batch, {})
    assert _outcomes(decided) == [Outcome.APPLIED, Outcome.APPLIED, Outcome.STALE]
    assert list(decided.winners) == [1]  # only the final state is written


def test_an_invalid_revision_is_rejected_and_moves_nothing() -> None:
    bad = _valid(penalty("P-1", 2), 1)._replace(validity=Invalid("penalty.amount: too large"))
    batch: list[Refused | Filtered | Candidate] = [_valid(penalty("P-1", 1), 0), bad]
    batch.append(_valid(penalty("P-1", 2), 2))  # the valid revision 2 still applies
    decided = decide(batch, {})
    assert _outcomes(decided) == [Outcome.REJECTED if i == 1 else Outcome.APPLIED for i in range(3)]
    assert decided.results[1].error_class == "ValidationError"
    assert decided.results[1].detail == "penalty.amount: too large"


def test_unchecked_items_are_validated_only_when_they_would_apply() -> None:
    asked: list[str] = []

    def validate(event: Event, kind: str) -> str | None:
        asked.append(event["record_id"])
        return None

    stored = _valid(penalty("P-1", 2), 0)
    batch: list[Refused | Filtered | Candidate] = [
        _item(penalty("P-1", 1), 1),  # stale: not validated
        _item(penalty("P-1", 3), 2),
    ]
    decided = decide(batch, _stored(stored), validate=validate)
    assert _outcomes(decided) == [Outcome.STALE, Outcome.APPLIED]
    assert asked == ["P-1"]


def test_a_foreseen_item_that_wins_is_reported_before_anything_is_written() -> None:
    foreseen = _item(penalty("P-1", 2), 0, foresee=lambda key, revision: True, value=b"x")
    assert isinstance(foreseen, Foreseen)
    with pytest.raises(Unforeseen) as raised:
        decide([foreseen], {})
    assert raised.value.indexes == [0]
    # Losing, as foreseen, it needs no rows.
    decided = decide([foreseen], _stored(_valid(penalty("P-1", 3), 1)))
    assert _outcomes(decided) == [Outcome.STALE] and not decided.winners


def test_refused_and_filtered_items_keep_their_reasons() -> None:
    refused = Refused(Provenance("casebus.penalty", 0, 0), "BadSignature", "proof does not match")
    filtered = Filtered(Provenance("casebus.penalty", 0, 1), ())
    decided = decide([refused, filtered], {})
    assert _outcomes(decided) == [Outcome.REJECTED, Outcome.FILTERED]
    assert decided.results[0].error_class == "BadSignature"
    assert decided.results[0].detail == "BadSignature: proof does not match"


def test_a_repair_writes_a_duplicate_again() -> None:
    stored = _valid(penalty("P-1", 1), 0)
    decided = decide([_valid(penalty("P-1", 1), 1)], _stored(stored), rewrite=True)
    assert _outcomes(decided) == [Outcome.DUPLICATE]
    assert list(decided.winners) == [0]
