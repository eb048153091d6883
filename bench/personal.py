"""The CPU cost of personal fields: sealing at the producer, opening at the sync.

Run: .venv/bin/python bench/personal.py [--events N] [--people N]

Offline, one core, no broker: the registry primed in memory, the key store and the
key-encryption keys in a temporary folder. Events: penalties against natural persons, each
with two personal values (the worst case: in the sandbox one penalty in five has any);
`--people` persons among them (default: one per 5 events), so data keys are made as a
connector meets new people.

Producer side, per event: validate, then serialize and sign (EventEncoder.encode_all, the
same signing batches) without sealing, and with sealing (the first pass over a person also
makes and wraps their data key and writes it to the key store; shown apart, then the same
events again with every key known).
Sync side, per event: Avro decode, then prepare (kind, digest, rows: pipeline/prepare.py)
without an opener (values stored as they came) and with the owner's opener (every value
opened; the first pass unwraps each data key from the key store, shown apart).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.dialects import sqlite

from agencydb.rows import RowBuilder
from casebus.config import load_settings
from casebus.contracts.samples import sample_penalty_event
from casebus.contracts.schemas import schema_text_for_topic, subject_for_topic
from casebus.events import stable_event_id
from casebus.personal.idcard import with_check
from casebus.provenance.keys import ensure_keys
from casebus.publish import EventEncoder
from casebus.registry.client import RegistryClient
from casebus.serde import AvroDeserializer, SerializationContext
from casebus.topics import TopicNames
from pipeline.items import Decoded, Provenance
from pipeline.personal import opener_for
from pipeline.prepare import prepare

TOPIC = "casebus.penalty"
OWNER = "510500-SAMR"


def events(n: int, people: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        event = sample_penalty_event()
        record_id = f"泸市监处罚〔2025〕P{i}号"
        event["record_id"] = record_id
        event["event_id"] = stable_event_id(OWNER, record_id, 1, event["event_type"])
        event["penalty"] = dict(event["penalty"])
        event["penalty"].update(
            decision_no=record_id,
            party_name="王小明",
            party_category="NATURAL_PERSON",
            party_uscc=None,
            legal_rep_name=None,
            person_id_type="身份证",
            person_id_no=with_check(f"51050219800101{i % people:03d}"),
        )
        out.append(event)
    return out


def per_event(n: int, work: Callable[[], Any]) -> tuple[float, Any]:
    cpu = time.process_time()
    out = work()
    return (time.process_time() - cpu) / n * 1e6, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--people", type=int, default=0, help="default: events / 5")
    args = parser.parse_args()
    n = args.events
    people = min(args.people or max(n // 5, 1), 1000)
    var = Path(tempfile.mkdtemp(prefix="casebus-bench-personal-"))
    base = load_settings(var_dir=var)
    personal = base.personal.model_copy(
        update={"kek_dir": str(var / "kek"), "key_store": str(var / "keys.sqlite")}
    )
    settings = base.model_copy(
        update={
            "personal": personal,
            "provenance": base.provenance.model_copy(update={"keys_dir": str(var / "keys")}),
        }
    )
    ensure_keys(settings)
    registry = RegistryClient("http://registry.invalid")
    registry.prime(subject_for_topic(TOPIC), schema_text_for_topic(TOPIC), 1)
    names = TopicNames.same(("casebus.penalty", "casebus.lead", "casebus.action"))
    plain = EventEncoder(settings, names, registry, seal=False)
    sealing = EventEncoder(settings, names, registry)
    batch = [events(n, people)[i : i + 1000] for i in range(0, n, 1000)]
    flat = [e for b in batch for e in b]

    validate_us, _ = per_event(n, lambda: [plain.check(e) for e in flat])
    plain_us, _ = per_event(n, lambda: [o for b in batch for o in plain.encode_all(b)])
    first_us, _ = per_event(n, lambda: [o for b in batch for o in sealing.encode_all(b)])
    sealed_us, out = per_event(n, lambda: [o for b in batch for o in sealing.encode_all(b)])
    producer = validate_us + plain_us
    print(f"events: {n}, {people} people, two personal values each, one core (CPU µs/event)")
    print("producer:")
    print(f"  validate                       {validate_us:7.1f}")
    print(f"  serialize + sign               {plain_us:7.1f}")
    print(f"  seal + serialize + sign        {sealed_us:7.1f}   every data key known")
    print(f"  the same, first pass           {first_us:7.1f}   {people} data keys made")
    print(f"  sealing / (validate + encode)  {(sealed_us - plain_us) / producer:7.1%}")

    decode = AvroDeserializer(registry, max_message_bytes=1 << 20)
    ctx = SerializationContext(TOPIC)
    decode_us, decoded = per_event(n, lambda: [decode.decode(o.value, ctx).value for o in out])
    items = [Decoded(Provenance(TOPIC, 0, i, 1), e) for i, e in enumerate(decoded)]
    dialect = sqlite.dialect()
    bare_rows = RowBuilder(dialect)
    opened_rows = RowBuilder(dialect, opener_for(settings, OWNER))
    prepare_us, _ = per_event(n, lambda: [prepare(d, bare_rows, None) for d in items])
    open_first_us, _ = per_event(n, lambda: [prepare(d, opened_rows, None) for d in items])
    open_us, prepared = per_event(n, lambda: [prepare(d, opened_rows, None) for d in items])
    assert all(p.state.personal == "personal: 2 opened" for p in prepared)  # type: ignore[union-attr]
    sync = decode_us + prepare_us
    print("sync:")
    print(f"  decode                         {decode_us:7.1f}")
    print(f"  prepare (rows as they came)    {prepare_us:7.1f}")
    print(f"  prepare, opening               {open_us:7.1f}   every data key unwrapped")
    print(f"  the same, first pass           {open_first_us:7.1f}   {people} data keys unwrapped")
    print(f"  opening / (decode + prepare)   {(open_us - prepare_us) / sync:7.1%}")


if __name__ == "__main__":
    main()
