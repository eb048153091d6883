"""One generated pass from a record's Avro bytes to the item apply consumes (issue 28).

For a writer schema that is the topic's own (no resolution) and whose payload is a flat
record (the penalty topic), `compile_fused` writes one function that reads the Avro body
into local variables, checks the signer, the claim, the subscription and the revision
foreseen (as the worker's usual path does), runs the contract's checks on the locals and
builds the rows straight into a `Prepared` item, with no event dict: the only dicts made
are the ones the content digest hashes (its definition, casebus.records) and the envelope
the subscription filter and the claim check read.

It is a fast path, never the judge: it returns None for anything it does not handle the
usual way, and the caller takes the usual path (pipeline/inbound.py, pipeline/prepare.py,
the validator), whose item stands. So a value it cannot read, a signer or a claim that does
not match, a check that fails (the validator then words every message, as before) and a
personal value that is sealed (the agency's opener handles it, as before) all go the
usual way. Its checks only ever say "valid" where the validator finds nothing: the text
policy, sizes and ranges of casebus.contracts.typecheck, the envelope rules of
casebus.contracts.validation and the payload rules of casebus.contracts.rules, each
re-stated as a condition (`envelope_ok`, `PAYLOAD_OK`). tests/pipeline/test_fused.py holds
its items to the usual path's (fastavro and the validator) on the test corpora and on
generated events.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from agencydb.rows import (
    PAYLOAD_COLUMNS,
    PERSONAL_KINDS,
    RowBuilder,
    StateRows,
)
from casebus.claims import mismatch
from casebus.contracts import codes, text, uscc
from casebus.contracts.checks import CHINA, MAX_INTEGER_DIGITS, MAX_SCALE
from casebus.contracts.codes import Known
from casebus.contracts.model import Array, Enum, Node, Primitive, Record, Union, resolve
from casebus.contracts.rules import _PENALTY_TEXT
from casebus.contracts.typecheck import DEFAULT_LIST_LIMIT, LIST_LIMITS
from casebus.events import ACTION_TOPIC, EventType, payload_field
from casebus.personal import idcard
from casebus.personal.envelope import is_opaque, is_sealed
from casebus.personal.fields import by_parent
from casebus.provenance.signing import Verifier
from casebus.records import DIGEST_ENVELOPE, RecordKey, canonical_bytes
from casebus.serde.reader import _SCOPE, _Reader, _Unsupported
from pipeline.items import VALID, Filtered, Foreseen, Prepared

log = logging.getLogger(__name__)

# Provenance, value, signer (or None), claim header (or None), admit, foresee, latest
# instant (now + clock skew), latest date (China) -> the item, or None: the usual path.
Fused = Callable[..., Any]

_ENVELOPE = (
    "event_id",
    "event_type",
    "occurred_at",
    "published_at",
    "owner",
    "record_id",
    "revision",
    "case_id",
    "region",
    "shared_with",
    "handling",
    "producer",
)
_EVENT_TYPES = frozenset(e.value for e in EventType)
_REGION = re.compile(r"^[1-8]\d{5}$")
# A UUID as str(uuid.UUID) writes it.
_UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").fullmatch
_LONG = (-(2**63), 2**63 - 1)
_INT = (-(2**31), 2**31 - 1)
# Values the generated decoder reads are of these types already (typecheck has nothing to
# add): (Avro type, logical type).
_TYPED = frozenset(
    {
        ("int", "date"),
        ("long", "timestamp-millis"),
        ("bytes", "decimal"),
        ("string", "uuid"),
        ("null", None),
        ("boolean", None),
        ("float", None),
        ("double", None),
        ("bytes", None),
    }
)


def event_types_on(topic: str) -> frozenset[str]:
    """The event types validation._event_type lets through on `topic`."""
    expected = payload_field(topic)
    ok = set()
    for e in EventType:
        family = e.family
        if (topic == ACTION_TOPIC) != (family in ("transfer", "action", "case")) or (
            topic != ACTION_TOPIC and family != expected
        ):
            continue
        ok.add(e.value)
    return frozenset(ok)


def envelope_ok(
    known: Known,
    types: frozenset[str],
    latest: datetime,
    event_type: object,
    occurred: datetime,
    published: datetime,
    owner: str,
    record_id: str,
    case_id: str,
    producer: str,
    revision: int,
    region: str,
    handling: str,
    shared: list[str],
) -> bool:
    """True only where validation._envelope reports nothing (values as decoded: the event
    id a UUID, the instants aware datetimes, the rest strings and an int)."""
    if event_type not in types:
        return False
    if occurred > latest or published > latest or published < occurred:
        return False
    owners = known.owners
    if owner not in owners:
        return False
    if not (record_id.strip() and case_id.strip() and producer.strip()):
        return False
    if revision < 1 or not _REGION.match(region) or handling not in codes.HANDLING:
        return False
    for target in shared:
        if not (target in owners or (target.isdigit() and len(target) == 6)):
            return False
    return not (handling == "H2" and not any(t in owners for t in shared))


def _present(value: object) -> bool:
    """checks.Checks.text finds nothing to say (required)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _resident_id_ok(value: object, kind: object) -> bool:
    """checks.Checks.resident_id on a consumer (sealed=True) finds nothing."""
    if not isinstance(value, str) or is_opaque(value):
        return True
    if isinstance(kind, str) and kind not in idcard.RESIDENT_ID_TYPES:
        return True
    normal = idcard.normalise(value)
    return normal == value and idcard.problem(normal) is None


def _uscc_ok(value: object, placeholder_ok: bool, reg_no: object = None) -> bool:
    """checks.Checks.uscc finds nothing (with the placeholder, rules.penalty then needs
    reg_no: given as `reg_no` where that applies)."""
    if not isinstance(value, str):
        return True
    normal = uscc.normalise(value)
    if normal != value:
        return False
    if normal == uscc.PLACEHOLDER:
        return placeholder_ok and (reg_no is ... or _present(reg_no))
    return uscc.problem(normal) is None


def _amount_ok(value: object) -> bool:
    if not isinstance(value, Decimal):
        return True
    if not value.is_finite() or value < 0:
        return False
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_SCALE:
        return False
    return value.adjusted() < MAX_INTEGER_DIGITS


def _day(value: object) -> date | None:
    if isinstance(value, datetime):
        value = value.date()
    return value if isinstance(value, date) else None


def penalty_ok(p: dict[str, Any], event_type: object, latest_date: date) -> bool:
    """True only where rules.penalty reports nothing."""
    g = p.get
    for key in _PENALTY_TEXT:
        if not _present(g(key)):
            return False
    category = g("party_category")
    if isinstance(category, str) and category not in codes.PARTY_CATEGORIES:
        return False
    if category in codes.ORGANISATIONS:
        if not (_present(g("party_uscc")) and _present(g("legal_rep_name"))):
            return False
    elif category == "NATURAL_PERSON" and not (
        _present(g("person_id_type")) and _present(g("person_id_no"))
    ):
        return False
    if not (
        _resident_id_ok(g("person_id_no"), g("person_id_type"))
        and _resident_id_ok(g("legal_rep_id_no"), g("legal_rep_id_type"))
        and _uscc_ok(g("party_uscc"), True, g("reg_no"))
        and _uscc_ok(g("authority_uscc"), False)
        and _uscc_ok(g("source_org_uscc"), False)
    ):
        return False
    categories = g("penalty_categories")
    if isinstance(categories, list):
        if not categories or len(set(categories)) != len(categories):
            return False
        for value in categories:
            if isinstance(value, str) and value not in codes.PENALTY_CATEGORIES:
                return False
        if codes.FINE in categories and g("fine_amount") is None:
            return False
    if not (_amount_ok(g("fine_amount")) and _amount_ok(g("confiscated_amount"))):
        return False
    decided = _day(g("decision_date"))
    if decided is not None:
        if decided > latest_date:
            return False
        for key in ("effective_until", "publicity_until"):
            until = g(key)
            if until is not None and hasattr(until, "year") and until < decided:
                return False
    return not (event_type == "PENALTY_REVOKED" and not _present(g("revoke_reason")))


# Per kind whose payload the generated pass handles: True only where its rules find nothing.
PAYLOAD_OK: dict[str, Callable[[dict[str, Any], object, date], bool]] = {"penalty": penalty_ok}


class _Fuser(_Reader):
    """Writes the source of one `Fused` function (see the module docstring)."""

    def primitive(self, node: Primitive, v: str, depth: int) -> None:
        """As the reader does, but a UUID stays the string it is written as, when that is
        the canonical form str(UUID) gives (else the usual path reads it): parsing it and
        printing it back twice cost 3 µs an event."""
        if node.kind == "string" and node.logical == "uuid":
            self.raw(depth, v)
            self.emit(depth, f"{v} = {v}.decode()")
            self.emit(depth, f"if not _uuid_text({v}): return None")
        else:
            super().primitive(node, v, depth)

    def checked(self, node: Node, v: str, key: str, depth: int) -> None:
        """Emit typecheck's quick checks on a value read into `v` (its field `key`): the
        text limits and the strings for the text policy, list sizes, integer ranges."""
        if isinstance(node, Union):
            others = node.others
            if len(others) != 1 or not node.nullable:
                raise _Unsupported("a union other than [null, T]")
            self.emit(depth, f"if {v} is not None:")
            self.checked(others[0], v, key, depth + 1)
            self.emit(depth + 1, "pass")
        elif isinstance(node, Array):
            limit = LIST_LIMITS.get(key, DEFAULT_LIST_LIMIT)
            item = self.var("i")
            self.emit(depth, f"if len({v}) > {limit}: return None")
            self.emit(depth, f"for {item} in {v}:")
            self.checked(node.items, item, key, depth + 1)
            self.emit(depth + 1, "pass")
        elif isinstance(node, Enum):
            pass  # a symbol: validation._event_type (or a code table) judges it
        elif isinstance(node, Primitive):
            if node.kind == "string" and node.logical != "uuid":
                self.emit(depth, f"if len({v}) > {text.max_length(key)}: return None")
                self.emit(depth, f"a({v})")
            elif node.kind in ("int", "long") and node.logical is None:
                low, high = _INT if node.kind == "int" else _LONG
                self.emit(depth, f"if not {low} <= {v} <= {high}: return None")
            elif (node.kind, node.logical) not in _TYPED:  # nothing to add for those
                raise _Unsupported(f"{node.kind}/{node.logical}")
        else:
            raise _Unsupported(type(node).__name__.lower())

    def row(self, depth: int, out: str, values: Iterable[str], processors: Any) -> None:
        """`out` = a tuple of `values` (expressions), each through its bind processor."""
        procs = dict(processors)
        parts = []
        for i, value in enumerate(values):
            if i in procs:
                tmp = self.var("r")
                self.emit(depth, f"{tmp} = {value}")
                parts.append(f"({tmp} if {tmp} is None else {self.const(procs[i])}({tmp}))")
            else:
                parts.append(value)
        self.emit(depth, f"{out} = ({', '.join(parts)},)")


def compile_fused(writer: Any, topic: str, rows: RowBuilder, known: Known) -> Fused | None:
    """The generated pass for `topic`'s own schema `writer` (JSON), building rows as `rows`
    does; None where the schema has something it does not handle (the usual path then
    takes every value)."""
    try:
        return _compile(writer, topic, rows, known)
    except _Unsupported as exc:
        log.info("%s: no generated pass to rows (%s)", topic, exc)
        return None


def _compile(writer: Any, topic: str, rows: RowBuilder, known: Known) -> Fused:
    root = resolve(writer)
    if not isinstance(root, Record):
        raise _Unsupported("not a record")
    kind = payload_field(topic)
    if kind not in PAYLOAD_OK or kind not in PAYLOAD_COLUMNS:
        raise _Unsupported(f"no payload conditions for {kind}")
    fields = {f.name: f for f in root.fields}
    if set(fields) != {*_ENVELOPE, kind}:
        raise _Unsupported("not the envelope and one payload")
    payload = fields[kind].type
    if not isinstance(payload, Record):
        raise _Unsupported("the payload is not a plain record")
    personal = [f for path, group in by_parent(topic) for f in group]
    if any(len(f.path) != 2 or f.path[0] != kind for f in personal):
        raise _Unsupported("personal values below the payload's own fields")

    w = _Fuser()
    w.emit(1, "p = 5")
    env: dict[str, str] = {}
    body: dict[str, str] = {}
    for f in root.fields:
        if f.name == kind:
            for g in payload.fields:
                if isinstance(g.type, Record | Array) and not (
                    isinstance(g.type, Array) and isinstance(g.type.items, Primitive)
                ):
                    raise _Unsupported(f"{kind}.{g.name}: a nested record")
                body[g.name] = w.var("q")
                w.datum(g.type, body[g.name], 1)
        else:
            env[f.name] = w.var("e")
            w.datum(f.type, env[f.name], 1)
    w.emit(1, "if p != len(b): return None")
    e = env.__getitem__
    # The signer may sign for the owner at the time of publishing (inbound, decode_one).
    w.emit(1, f"if signer is not None and _signer(signer, {e('owner')}, {e('published_at')}):")
    w.emit(2, "return None")
    envelope = ", ".join(f"{name!r}: {env[name]}" for name in _ENVELOPE)
    w.emit(1, f"env = {{{envelope}}}")
    pl = ", ".join(f"{name!r}: {local}" for name, local in body.items())
    w.emit(1, f"pl = {{{pl}}}")
    content = ", ".join(f"{name!r}: {env[name]}" for name in DIGEST_ENVELOPE)
    digest = f"_sha(_canon({{{content}, 'kind': {kind!r}, 'payload': pl}})).hexdigest()"
    head = [
        "prov.topic",
        "prov.partition",
        "prov.offset",
        "prov.schema_id",
        e("event_id"),
        e("producer"),
        e("event_type"),
    ]
    w.row(1, "head", head, rows._log_head.processors)
    w.emit(1, "digest = None")
    w.emit(1, "if claim is not None:")
    w.emit(2, f"digest = {digest}")
    w.emit(2, f"if _mismatch(claim, env, {kind!r}, digest) is not None: return None")
    w.emit(1, f"if admit is not None and not admit(env, {kind!r}): return _Filtered(prov, head)")
    w.emit(1, f"if digest is None: digest = {digest}")
    identity = [
        repr(kind),
        e("owner"),
        e("record_id"),
        e("revision"),
        e("case_id"),
        e("occurred_at"),
        "digest",
    ]
    w.row(1, "identity", identity, rows._log_identity.processors)
    key = f"({kind!r}, {e('owner')}, {e('record_id')})"
    w.emit(1, f"if foresee is not None and foresee(_Key({key}), {e('revision')}):")
    w.emit(
        2,
        f"return _Foreseen(prov, {kind!r}, {e('owner')}, {e('record_id')}, {e('revision')}, "
        "digest, head, identity, b)",
    )
    # The contract's checks: typecheck's text policy, sizes and ranges, then the rules.
    w.emit(1, "s = []")
    w.emit(1, "a = s.append")
    for f in root.fields:
        if f.name == kind:
            for g in payload.fields:
                w.checked(g.type, body[g.name], g.name, 1)
        else:
            w.checked(f.type, env[f.name], f.name, 1)
    w.emit(1, "if not _clean(s): return None")
    w.emit(
        1,
        "if not _envelope_ok(_known, _types, latest, "
        + ", ".join(
            e(n)
            for n in (
                "event_type",
                "occurred_at",
                "published_at",
                "owner",
                "record_id",
                "case_id",
                "producer",
                "revision",
                "region",
                "handling",
                "shared_with",
            )
        )
        + "): return None",
    )
    w.emit(1, f"if not _payload_ok(pl, {e('event_type')}, latest_date): return None")
    # Personal values: a sealed one is the opener's (the usual path); in clear, stored as is.
    if rows.personal is not None and kind in PERSONAL_KINDS and personal:
        sealed = " or ".join(f"_sealed({body[f.name]})" for f in personal)
        w.emit(1, f"if {sealed}: return None")
    record = [
        repr(kind),
        e("owner"),
        e("record_id"),
        e("revision"),
        "digest",
        e("event_type"),
        e("event_id"),
        e("case_id"),
        e("region"),
        e("handling"),
        f"list({e('shared_with')})",
        e("occurred_at"),
    ]
    w.row(1, "record", record, rows._record.processors)
    columns = PAYLOAD_COLUMNS[kind]
    values = [e("owner"), e("record_id"), *(body.get(name, "None") for name in columns[2:])]
    w.row(1, "payload", values, rows._payload[kind].processors)
    w.row(1, "case", [e("case_id"), e("region")], rows._case.processors)
    w.emit(
        1,
        f"return _Prepared(prov, {kind!r}, {e('owner')}, {e('record_id')}, {e('revision')}, "
        f"digest, head, identity, _State({kind!r}, record, payload, case, (), (), None), _VALID)",
    )
    scope = {
        **_SCOPE,
        "_signer": Verifier.check_signer,
        "_mismatch": mismatch,
        "_sha": hashlib.sha256,
        "_canon": canonical_bytes,
        "_Filtered": Filtered,
        "_Foreseen": Foreseen,
        "_Prepared": Prepared,
        "_State": StateRows,
        "_VALID": VALID,
        "_Key": RecordKey,
        "_clean": text.all_clean,
        "_envelope_ok": envelope_ok,
        "_known": known,
        "_types": event_types_on(topic),
        "_payload_ok": PAYLOAD_OK[kind],
        "_sealed": is_sealed,
        "_uuid_text": _UUID_TEXT,
    }
    fused: Fused = w.define(
        "def fused(prov, b, signer, claim, admit, foresee, latest, latest_date):",
        "\n",
        "<fused rows>",
        scope,
    )
    return fused


def latest_now(skew_seconds: float) -> tuple[datetime, date]:
    """validate_event's latest instant (now + clock skew) and its date in China."""
    latest = datetime.now(UTC) + timedelta(seconds=skew_seconds)
    return latest, latest.astimezone(CHINA).date()
