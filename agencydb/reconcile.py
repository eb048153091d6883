"""Compare what two agency databases should share, record by record and case by case.

Only records both subscriptions admit are compared; the content digest stored with each
record (casebus.records.content_digest) makes equal content compare equal.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select

from agencydb.engine import make_engine
from agencydb.models import Record
from casebus.config import Settings, Subscription
from casebus.filtering import admits

Key = tuple[str, str, str]  # (kind, owner, record_id)


@dataclass(frozen=True, slots=True)
class RecordState:
    kind: str
    owner: str
    record_id: str
    revision: int
    digest: str
    case_id: str

    @property
    def key(self) -> Key:
        return (self.kind, self.owner, self.record_id)


@dataclass
class ReconcileReport:
    a: str
    b: str
    case_id: str | None = None
    compared: int = 0  # records at least one side holds that both should hold
    missing_on_a: list[RecordState] = field(default_factory=list)
    missing_on_b: list[RecordState] = field(default_factory=list)
    different: list[tuple[RecordState, RecordState]] = field(default_factory=list)
    case_digests: dict[str, tuple[str, str]] = field(default_factory=dict)  # case -> (a, b)

    @property
    def identical(self) -> bool:
        return not (self.missing_on_a or self.missing_on_b or self.different)

    @property
    def differing_cases(self) -> list[str]:
        return sorted(c for c, (da, db) in self.case_digests.items() if da != db)

    def lines(self) -> list[str]:
        """The differences, one per line, for a terminal."""
        out = []
        for r in self.missing_on_a:
            out.append(f"missing on {self.a}: {_name(r)} rev {r.revision} (case {r.case_id})")
        for r in self.missing_on_b:
            out.append(f"missing on {self.b}: {_name(r)} rev {r.revision} (case {r.case_id})")
        for ra, rb in self.different:
            out.append(
                f"different: {_name(ra)}: {self.a} rev {ra.revision} {ra.digest[:12]}, "
                f"{self.b} rev {rb.revision} {rb.digest[:12]}"
            )
        for case in self.differing_cases:
            da, db = self.case_digests[case]
            out.append(f"case {case}: {self.a} {da[:12]}, {self.b} {db[:12]}")
        scope = f"case {self.case_id}" if self.case_id else "all cases"
        verdict = "identical" if self.identical else "DIFFERENT"
        out.append(f"{self.a} vs {self.b} ({scope}): {self.compared} shared records, {verdict}")
        return out


def _name(r: RecordState) -> str:
    return f"{r.kind} {r.owner}/{r.record_id}"


def load_shared(
    url: str, subs: tuple[Subscription, Subscription], case_id: str | None
) -> dict[Key, RecordState]:
    """The records of one database that both subscriptions admit."""
    engine = make_engine(url)
    query = select(Record)
    if case_id is not None:
        query = query.where(Record.case_id == case_id)
    out: dict[Key, RecordState] = {}
    try:
        with engine.connect() as conn:
            for mapping in conn.execute(query).mappings():
                row = dict(mapping)
                if all(admits(sub, row, row["kind"]) for sub in subs):
                    state = RecordState(
                        row["kind"],
                        row["owner"],
                        row["record_id"],
                        row["revision"],
                        row["digest"],
                        row["case_id"],
                    )
                    out[state.key] = state
    finally:
        engine.dispose()
    return out


def case_digest(states: list[RecordState]) -> str:
    text = "\n".join(
        f"{s.kind}\x1f{s.owner}\x1f{s.record_id}\x1f{s.revision}\x1f{s.digest}"
        for s in sorted(states, key=lambda s: s.key)
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reconcile_databases(
    url_a: str,
    url_b: str,
    subs: tuple[Subscription, Subscription],
    *,
    names: tuple[str, str] = ("A", "B"),
    case_id: str | None = None,
) -> ReconcileReport:
    side_a = load_shared(url_a, subs, case_id)
    side_b = load_shared(url_b, subs, case_id)
    report = ReconcileReport(names[0], names[1], case_id)
    keys = sorted(side_a.keys() | side_b.keys())
    report.compared = len(keys)
    cases: dict[str, tuple[list[RecordState], list[RecordState]]] = defaultdict(lambda: ([], []))
    for key in keys:
        ra, rb = side_a.get(key), side_b.get(key)
        if ra is None and rb is not None:
            report.missing_on_a.append(rb)
        elif rb is None and ra is not None:
            report.missing_on_b.append(ra)
        elif (
            ra is not None
            and rb is not None
            and (ra.revision, ra.digest) != (rb.revision, rb.digest)
        ):
            report.different.append((ra, rb))
        if ra is not None:
            cases[ra.case_id][0].append(ra)
        if rb is not None:
            cases[rb.case_id][1].append(rb)
    report.case_digests = {c: (case_digest(a), case_digest(b)) for c, (a, b) in cases.items()}
    return report


def reconcile(settings: Settings, a: str, b: str, case_id: str | None = None) -> ReconcileReport:
    """Compare agencies `a` and `b` (their configured databases) on what both should hold."""
    subs = (settings.sync.subscription(a), settings.sync.subscription(b))
    return reconcile_databases(
        settings.database_url(a), settings.database_url(b), subs, names=(a, b), case_id=case_id
    )
