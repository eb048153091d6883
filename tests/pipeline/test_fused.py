"""The generated pass from bytes to items (pipeline/fused.py) against the usual path it
stands in for: fastavro's decoding, the inbound checks (signer, record kind, claim), the
worker's `prepare` and the validator. Where the generated pass gives an item it must be the
usual path's item exactly (rows, digest, event-log columns); where it gives None the usual
path must be the one that has something to say (a refusal, a broken rule, a sealed value).
"""

from __future__ import annotations

import copy
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from agencydb.rows import PAYLOAD_COLUMNS, RowBuilder
from bench.workload import event_stream, make_event, new_penalties
from casebus.claims import CLAIM_HEADER, claim_header, mismatch
from casebus.config import Settings, load_settings
from casebus.contracts import codes
from casebus.contracts.checks import CHINA
from casebus.contracts.samples import sample_penalty_event
from casebus.contracts.schemas import schema_for_topic
from casebus.contracts.validation import validate_event
from casebus.events import PENALTY_TOPIC
from casebus.personal.envelope import PREFIX, is_sealed
from casebus.personal.fields import by_parent
from casebus.provenance.signing import Verifier
from casebus.records import content_digest, record_kind
from casebus.serde.framing import frame
from pipeline.fused import Fused, compile_fused
from pipeline.inbound import describe_violations
from pipeline.items import VALID, Decoded, Invalid, Prepared, Provenance
from pipeline.prepare import prepare
from tests.contracts.test_validation import CASES, ENVELOPE_CASES, NOW
from tests.serde.strategies import penalties

pytestmark = pytest.mark.offline

SCHEMA = schema_for_topic(PENALTY_TOPIC)
PARSED = parse_schema(SCHEMA)
PROV = Provenance(PENALTY_TOPIC, 2, 41, 7)
OWNER = "510500-SAMR"
AGENCY = "500110-SAMR"


class _Keys:
    generation = 0


class _NoSealed:
    """An opener for events without sealed values (Opener.open leaves them as they are)."""

    def open(self, event: Any, kind: str, payload: dict[str, Any]) -> Any:
        from casebus.personal.cipher import Opened

        return Opened(payload)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def _builders() -> list[RowBuilder]:
    out = []
    for url in ("sqlite://", "postgresql+psycopg://"):
        dialect = make_url(url).get_dialect()()
        out.append(RowBuilder(dialect))
        out.append(RowBuilder(dialect, _NoSealed()))  # type: ignore[arg-type]
    return out


BUILDERS = _builders()


def _fused(rows: RowBuilder, settings: Settings) -> Fused:
    fused = compile_fused(SCHEMA, PENALTY_TOPIC, rows, codes.known(settings))
    assert fused is not None
    return fused


def _value(event: dict[str, Any]) -> bytes | None:
    buf = io.BytesIO()
    try:
        schemaless_writer(buf, PARSED, event)
    except Exception:
        return None  # not a value any producer could send
    return frame(PROV.schema_id or 0, buf.getvalue())


def _usual(
    value: bytes,
    rows: RowBuilder,
    settings: Settings,
    *,
    admit: Any = None,
    foresee: Any = None,
    claim: bytes | None = None,
    signer: Any = None,
) -> Any:
    """What the worker's usual path makes of the value (Inbound._decode_trusted, prepare,
    DecodeWorkerJob._validated); "refused" for a refusal."""
    try:
        event = schemaless_reader(io.BytesIO(value[5:]), PARSED, None)
    except Exception:
        return "refused"  # MalformedMessage
    if signer is not None and Verifier.check_signer(
        signer, event.get("owner"), event.get("published_at")
    ):
        return "refused"
    kind = record_kind(event)
    digest = None
    if claim is not None:
        digest = content_digest(event, kind)
        if mismatch(claim, event, kind, digest) is not None:
            return "refused"
    item = prepare(Decoded(PROV, event, digest), rows, admit, foresee=foresee, value=value)
    if isinstance(item, Prepared):
        found = validate_event(PENALTY_TOPIC, event, now=NOW, settings=settings, sealed=True)
        problem = describe_violations([v.message for v in found]) if found else None
        item = item._replace(validity=VALID if problem is None else Invalid(problem))
    return item


def _latest(settings: Settings, now: datetime = NOW) -> tuple[datetime, date]:
    latest = now + timedelta(seconds=settings.validation.clock_skew_seconds)
    return latest, latest.astimezone(CHINA).date()


_PERSONAL = {f.name for _, group in by_parent(PENALTY_TOPIC) for f in group}


def _sealed(item: Any) -> bool:
    """A Prepared item with a sealed personal value in its payload row."""
    columns = PAYLOAD_COLUMNS["penalty"]
    return isinstance(item, Prepared) and any(
        is_sealed(v) for c, v in zip(columns, item.state.payload, strict=True) if c in _PERSONAL
    )


def _agree(
    event: dict[str, Any],
    settings: Settings,
    *,
    rows: RowBuilder | None = None,
    must_fuse: bool | None = None,
    **usual: Any,
) -> Any:
    """Both paths on `event`, for every row builder; the generated pass's item (last)."""
    value = _value(event)
    if value is None:
        return None
    fast: Any = None
    for builder in [rows] if rows is not None else BUILDERS:
        expected = _usual(value, builder, settings, **usual)
        try:  # as DecodeWorkerJob._fast calls it
            fast = _fused(builder, settings)(
                PROV,
                value,
                usual.get("signer"),
                usual.get("claim"),
                usual.get("admit"),
                usual.get("foresee"),
                *_latest(settings),
            )
        except Exception:
            fast = None
        # The generated pass gives way exactly where the usual path has something to say,
        # or a sealed value for the opener.
        gives_way = (
            expected == "refused"
            or (isinstance(expected, Prepared) and expected.validity != VALID)
            or (builder.personal is not None and _sealed(expected))
        )
        assert (fast is None) == gives_way, (fast, expected)
        if fast is not None:
            assert fast == expected
            assert repr(fast) == repr(expected)  # the same types in every row
        if must_fuse is not None:
            assert (fast is not None) == must_fuse, (fast, expected)
    return fast


def test_the_sample_goes_through_the_generated_pass(settings: Settings) -> None:
    fast = _agree(sample_penalty_event(), settings, must_fuse=True)
    assert isinstance(fast, Prepared) and fast.validity == VALID


@pytest.mark.parametrize(
    ("name", "event"),
    [(c[0], c[1]) for c in CASES + ENVELOPE_CASES],
    ids=[c[0] for c in CASES + ENVELOPE_CASES],
)
def test_the_contract_tests_cases(name: str, event: dict[str, Any], settings: Settings) -> None:
    """Each rule the contract tests break: the usual path words it (the generated pass
    gives way), or the event cannot be encoded at all, or encoded it breaks nothing."""
    _agree(event, settings)


@pytest.mark.parametrize("personal", [False, True])
def test_the_benchmark_streams(personal: bool, settings: Settings) -> None:
    """bench/workload.py's penalties (the mixed stream's and the new ones), natural persons
    among them with personal values in clear."""
    specs = [s for s in event_stream(600) if s[0] == 0] + new_penalties(60)
    for spec in specs:
        event = make_event(*spec, personal=personal)
        _agree(event, settings, must_fuse=True)


def _subscription(settings: Settings) -> Any:
    return settings.sync.subscription(AGENCY)


def test_filtered_foreseen_and_claims(settings: Settings) -> None:
    from casebus.filtering import admits

    sub = _subscription(settings)
    event = sample_penalty_event()
    value = _value(event)
    assert value is not None
    claim = claim_header(PENALTY_TOPIC, value)[0]
    assert claim[0] == CLAIM_HEADER
    for admit in (
        None,
        lambda e, kind: admits(sub, e, kind),
        lambda e, kind: False,
    ):
        for foresee in (None, lambda key, revision: True, lambda key, revision: False):
            for raw in (None, claim[1]):
                _agree(event, settings, must_fuse=True, admit=admit, foresee=foresee, claim=raw)
    # A claim that does not match the body: the usual path refuses it.
    other = copy.deepcopy(event)
    other["revision"] = 2
    other_value = _value(other)
    assert other_value is not None
    wrong = claim_header(PENALTY_TOPIC, other_value)[0][1]
    _agree(event, settings, must_fuse=False, claim=wrong)


def test_the_signer(settings: Settings) -> None:
    event = sample_penalty_event()
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    key = SimpleNamespace(key_id="k", owner=OWNER, not_before=start, not_after=end)
    _agree(event, settings, must_fuse=True, signer=key)
    other = SimpleNamespace(key_id="k", owner="500110-SAMR", not_before=start, not_after=end)
    _agree(event, settings, must_fuse=False, signer=other)
    late = SimpleNamespace(key_id="k", owner=OWNER, not_before=end, not_after=end)
    _agree(event, settings, must_fuse=False, signer=late)


def test_sealed_personal_values_go_to_the_opener(settings: Settings) -> None:
    event = sample_penalty_event()
    event["penalty"].update(
        party_category="NATURAL_PERSON",
        person_id_type="身份证",
        person_id_no=f"{PREFIX}AAAA",
        party_uscc=None,
    )
    for rows in BUILDERS:
        fast = _agree(event, settings, rows=rows)
        assert (fast is None) == (rows.personal is not None)


def test_bytes_it_cannot_read_go_the_usual_way(settings: Settings) -> None:
    value = _value(sample_penalty_event())
    assert value is not None
    fused = _fused(BUILDERS[0], settings)
    latest = _latest(settings)
    for bad in (value[:-1], value + b"\x00", value[:40]):
        try:
            got = fused(PROV, bad, None, None, None, None, *latest)
        except Exception:
            got = None
        assert got is None


def test_an_event_id_in_another_form_goes_the_usual_way(settings: Settings) -> None:
    """The generated pass keeps an event id as written only in str(UUID)'s form; one in
    capitals (a form fastavro reads too) goes the usual way, which stores it in
    str(UUID)'s form (lower case), as before."""
    event = sample_penalty_event()
    value = _value(event)
    assert value is not None
    written = str(event["event_id"]).encode()
    assert written in value and written.upper() != written
    upper = value.replace(written, written.upper())
    for rows in BUILDERS:
        fast = _fused(rows, settings)(PROV, upper, None, None, None, None, *_latest(settings))
        assert fast is None
        usual = _usual(upper, rows, settings)
        assert isinstance(usual, Prepared) and usual.validity == VALID
        assert usual.head[4] == written.decode()
        same = _fused(rows, settings)(PROV, value, None, None, None, None, *_latest(settings))
        assert same == usual


# Generated events: the serde's strategy (any text, amount, date, instant, revision), and
# changes to the sample drawn from values near each rule's edge.
_STRINGS = st.sampled_from(
    [
        "",
        " ",
        "某某公司",
        "Cafe\u0301",
        "a\u200bb",
        "a\x07b",
        "x" * 501,
        "91310110666007217T",
        "91310110666007217K",
        "9131 0110666007217t",
        "00000000000000000X",
        "110101199003077578",
        "11010119900307757X",
        "510500",
        "500110-SAMR",
        "510500-SAMR",
        "nowhere",
        "H0",
        "H2",
        "H9",
        "NATURAL_PERSON",
        "LEGAL_PERSON",
        "02",
        "15",
        "身份证",
        "护照",
        PREFIX + "AAAA",
    ]
)
_PENALTY_FIELDS = [f["name"] for f in SCHEMA["fields"][-1]["type"]["fields"]]
_NULLABLE = {
    f["name"] for f in SCHEMA["fields"][-1]["type"]["fields"] if isinstance(f["type"], list)
}


@st.composite
def _changed(draw: st.DrawFn) -> dict[str, Any]:
    event = sample_penalty_event()
    p = event["penalty"]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(_PENALTY_FIELDS))
        current = p[name]
        if isinstance(current, str) or (current is None and name in _NULLABLE):
            p[name] = draw(_STRINGS | st.none()) if name in _NULLABLE else draw(_STRINGS)
        elif isinstance(current, list):
            p[name] = draw(st.lists(st.sampled_from(["01", "02", "03", "15", "02"]), max_size=4))
        elif isinstance(current, Decimal) or name.endswith("_amount"):
            p[name] = draw(
                st.none() | st.decimals(min_value=-10, max_value=10**13, places=6, allow_nan=False)
            )
        elif isinstance(current, date):
            p[name] = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2025, 5, 1)))
    for _ in range(draw(st.integers(0, 2))):
        name = draw(
            st.sampled_from(
                ["owner", "record_id", "case_id", "producer", "region", "handling", "revision"]
            )
        )
        event[name] = draw(st.integers(-1, 3)) if name == "revision" else draw(_STRINGS)
    if draw(st.booleans()):
        event["shared_with"] = draw(st.lists(_STRINGS, max_size=3))
    if draw(st.booleans()):
        event["occurred_at"] = NOW + timedelta(minutes=draw(st.integers(-5, 30)))
    return event


_HYPOTHESIS = hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@_HYPOTHESIS
@given(_changed())
def test_generated_changes_agree(event: dict[str, Any]) -> None:
    _agree(event, load_settings())


@_HYPOTHESIS
@given(penalties())
def test_generated_penalties_agree(event: dict[str, Any]) -> None:
    _agree(event, load_settings())


@pytest.mark.parametrize(
    ("only_new", "claims"), [(False, False), (False, True), (True, False), (True, True)]
)
def test_the_worker_gives_the_same_items_either_way(
    only_new: bool, claims: bool, settings: Settings, tmp_path: Any
) -> None:
    """DecodeWorkerJob on bench/sync.py's signed events (the mixed stream: penalties, leads,
    actions, revisions, duplicates, stale re-deliveries; or new penalties), with and without
    record claims, with the generated pass and with it turned off: the same items, batch for
    batch."""
    from casebus.contracts.schemas import TOPIC_SCHEMAS
    from casebus.topics import TopicNames
    from pipeline.decode_worker import DecodeWorkerJob
    from pipeline.inbound import SignatureCheck
    from tests.sync.test_claims import AGENCY as BENCH_AGENCY
    from tests.sync.test_claims import _records, _registry

    registry = _registry()
    specs = new_penalties(900) if only_new else event_stream(1500, seed=11)
    raw = _records(settings, registry, [make_event(*s) for s in specs], with_claims=claims)
    names = TopicNames.same(TOPIC_SCHEMAS)
    url = f"sqlite:///{tmp_path}/x.sqlite"
    jobs = [
        DecodeWorkerJob(settings, names, BENCH_AGENCY, url, registry, verify=True) for _ in range(2)
    ]
    fast, usual = jobs
    usual._fast = lambda *args: None  # type: ignore[method-assign]
    for job in jobs:
        job.claims_pay_from = 0.0  # decide from claims wherever there are any
    taken = fast._fast
    fused = 0

    def counted(*args: Any) -> Any:
        nonlocal fused
        item = taken(*args)
        fused += item is not None
        return item

    fast._fast = counted  # type: ignore[method-assign]
    check = SignatureCheck(settings, names)
    for start in range(0, len(raw), 300):
        batch = raw[start : start + 300]
        signatures = [check(r) for r in batch]
        a, b = fast.run(batch, signatures), usual.run(batch, signatures)
        assert a.items == b.items
        assert a.counts == b.counts
    assert fused > 0.3 * sum(r.topic == PENALTY_TOPIC for r in raw)  # it took its share
