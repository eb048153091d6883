"""The decode worker's items cross to the writer flat (pipeline/handover.py) and come back
the same items: equal values, and the same types all the way down (named tuples apply
reads by name)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from bench.workload import event_stream, make_event, new_penalties
from casebus.config import Settings, load_settings
from casebus.contracts.schemas import TOPIC_SCHEMAS
from casebus.topics import TopicNames
from pipeline.decode_worker import DecodeWorkerJob
from pipeline.handover import flatten, unflatten
from pipeline.inbound import SignatureCheck
from pipeline.items import Invalid, Item, Prepared, RawRecord, Unchecked
from tests.sync.test_claims import AGENCY, _records, _registry

pytestmark = pytest.mark.offline


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def _shape(value: Any) -> Any:
    """A value's types, nested tuples included."""
    if isinstance(value, tuple):
        return (type(value), tuple(_shape(v) for v in value))
    return type(value)


def _worker_items(settings: Settings, url: str) -> list[Item]:
    registry = _registry()
    specs = [*new_penalties(200), *event_stream(900, seed=5)]
    raw = _records(settings, registry, [make_event(*s) for s in specs], with_claims=True)
    # One record whose value was changed after signing: refused (BadSignature).
    bad = raw[3]
    raw.append(RawRecord(bad.topic, 1, 0, bad.value[:-1] + b"x", bad.key, bad.headers))
    names = TopicNames.same(TOPIC_SCHEMAS)
    job = DecodeWorkerJob(settings, names, AGENCY, url, registry, verify=True)
    # Leads and actions filtered out: Filtered items too.
    job.sub = job.sub.model_copy(update={"topics": ("casebus.penalty",)})
    job.claims_pay_from = 0.0  # decide from claims wherever there are any
    check = SignatureCheck(settings, names)
    items: list[Item] = []
    for start in range(0, len(raw), 300):
        batch = raw[start : start + 300]
        items.extend(job.run(batch, [check(r) for r in batch]).items)
    # The validities the worker's batches above did not happen to give.
    prepared = next(i for i in items if isinstance(i, Prepared))
    items.append(prepared._replace(validity=Invalid("party_name: required")))
    items.append(prepared._replace(validity=Unchecked({"owner": prepared.owner})))
    return items


@pytest.mark.parametrize("url", ["sqlite://", "postgresql+psycopg://"])
def test_items_come_back_the_same(settings: Settings, url: str) -> None:
    items = _worker_items(settings, url)
    kinds = {type(i).__name__ for i in items}
    assert {"Prepared", "Foreseen", "Filtered", "Refused"} <= kinds, kinds
    flat = flatten(items)
    back = unflatten(pickle.loads(pickle.dumps(flat)))
    assert back == items
    assert [_shape(i) for i in back] == [_shape(i) for i in items]
    # What is flattened: every item but a refused one and one still to validate.
    plain = [type(f) is tuple for f in flat]
    expected = [
        not (type(i).__name__ == "Refused" or isinstance(getattr(i, "validity", None), Unchecked))
        for i in items
    ]
    assert plain == expected


def test_a_flat_item_of_no_known_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a flat item"):
        unflatten([(9, "x")])
