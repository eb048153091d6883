"""The pure parts of personal data: GB 11643, masks, the envelope, the schema walker."""

from __future__ import annotations

import pytest

from casebus.contracts.model import SchemaError, resolve
from casebus.personal import envelope, idcard
from casebus.personal.fields import for_topic, personal_fields
from casebus.personal.masking import mask, redact_source

pytestmark = pytest.mark.offline

DEK = bytes(range(32))
KEY_ID = "00112233445566778899aabbccddeeff"
AAD = envelope.associated_data("510500-SAMR", "泸市监处罚〔2024〕200号", "penalty.person_id_no")


def test_gb11643_check_character() -> None:
    assert idcard.check_char("11010519491231002") == "X"
    assert idcard.problem("11010519491231002X") is None
    assert idcard.problem("11010519491231002x") is None  # normalised first
    assert idcard.problem("110105194912310021") == (
        "id_no.check_digit",
        "check character is '1', expected 'X'",
    )
    assert idcard.problem("110105194902300028")[0] == "id_no.birth_date"  # type: ignore[index]
    assert idcard.problem("1101051949")[0] == "id_no.format"  # type: ignore[index]
    assert idcard.with_check("51050219800101123") == "510502198001011235"


def test_masks() -> None:
    assert idcard.mask_id("11010519491231002X") == "110105********002X"
    assert idcard.mask_phone("13812345678") == "138****5678"
    assert idcard.mask_name("王小明") == "王**"
    assert mask({"name": "李娜", "phone": "13900001111", "id_no": "11010519491231002X"}) == {
        "name": "李*",
        "phone": "139****1111",
        "id_no": "110105********002X",
    }
    record = {"id": "A-1", "informant": {"name": "李娜"}, "list": [{"person_id_no": "123"}]}
    assert redact_source(record, {"informant", "person_id_no"}) == {
        "id": "A-1",
        "informant": {"name": "李*"},
        "list": [{"person_id_no": "1**"}],
    }


def test_envelope_round_trip_is_deterministic_and_self_describing() -> None:
    sealed = envelope.seal(DEK, KEY_ID, "11010519491231002X", AAD)
    assert sealed.startswith(envelope.PREFIX) and "11010519491231002X" not in sealed
    assert envelope.seal(DEK, KEY_ID, "11010519491231002X", AAD) == sealed  # same place, value
    assert envelope.seal(DEK, KEY_ID, "11010519491231003X", AAD) != sealed
    parsed = envelope.parse(sealed)
    assert parsed.key_id == KEY_ID and len(parsed.nonce) == envelope.NONCE_BYTES
    assert envelope.open_sealed(DEK, parsed, AAD) == "11010519491231002X"


def test_envelope_refuses_another_place_key_or_altered_bytes() -> None:
    parsed = envelope.parse(envelope.seal(DEK, KEY_ID, "13812345678", AAD))
    other_place = envelope.associated_data("510500-SAMR", "another", "penalty.person_id_no")
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_sealed(DEK, parsed, other_place)
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_sealed(bytes(32), parsed, AAD)
    flipped = bytes([parsed.ciphertext[0] ^ 1]) + parsed.ciphertext[1:]
    with pytest.raises(envelope.EnvelopeError):
        envelope.open_sealed(DEK, envelope.Sealed(parsed.key_id, parsed.nonce, flipped), AAD)
    with pytest.raises(envelope.EnvelopeError):
        envelope.parse("casebus-fle1:AAAA")
    assert envelope.is_opaque("[erased]") and not envelope.is_opaque("王小明")


def test_walker_finds_every_personal_value_with_its_subject() -> None:
    assert [(f.dotted, f.subject) for f in for_topic("casebus.penalty")] == [
        ("penalty.legal_rep_id_type", ("legal_rep_id_no",)),
        ("penalty.legal_rep_id_no", ("legal_rep_id_no",)),
        ("penalty.person_id_type", ("person_id_no",)),
        ("penalty.person_id_no", ("person_id_no",)),
    ]
    lead = [f.dotted for f in for_topic("casebus.lead")]
    assert lead == [
        "lead.seller_id_no",
        "lead.informant.name",
        "lead.informant.phone",
        "lead.informant.id_type",
        "lead.informant.id_no",
        "lead.informant.address",
    ]
    assert for_topic("casebus.action") == ()


def test_walker_refuses_personal_fields_it_cannot_seal() -> None:
    tagged_number = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "age", "type": "int", "confluent:tags": ["PII"]}],
    }
    with pytest.raises(SchemaError, match="age"):
        personal_fields(resolve(tagged_number))
    in_a_list = {
        "type": "record",
        "name": "R",
        "fields": [
            {
                "name": "people",
                "type": {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "P",
                        "fields": [{"name": "n", "type": "string", "confluent:tags": ["PII"]}],
                    },
                },
            }
        ],
    }
    with pytest.raises(SchemaError, match="list"):
        personal_fields(resolve(in_a_list))


def test_a_personal_field_is_never_exported_to_platforms() -> None:
    from casebus.contracts import partner

    contract = partner.partner_contract()
    personal = {f.dotted.removeprefix("lead.") for f in for_topic("casebus.lead")}
    assert not personal & {p.removeprefix("lead.") for p in contract.exported}
    assert "informant" not in repr(contract.schema)
    marked = {
        "type": "record",
        "name": "L",
        "fields": [
            {
                "name": "seller_id_no",
                "type": "string",
                "confluent:tags": ["PII"],
                "casebus.visibility": "partner",
            },
        ],
    }
    with pytest.raises(partner.PersonalFieldExported):
        partner._Walk([]).record(resolve(marked), "")  # type: ignore[arg-type]


def test_the_public_view_of_a_penalty() -> None:
    from casebus.contracts.samples import sample_penalty_event
    from casebus.personal.publicity import SEALED, public_penalty

    penalty = sample_penalty_event()["penalty"]
    penalty.update(
        party_name="王小明",
        party_category="NATURAL_PERSON",
        person_id_type="身份证",
        person_id_no="510502198001011235",
        legal_rep_id_no="510502198001011235",
        remarks="举报人李某",
    )
    shown = public_penalty(penalty)
    assert shown is not None
    assert (shown["party_name"], shown["party_category"]) == ("王小明", "自然人")
    assert shown["person_id_no"] == "510502********1235"
    assert shown["penalty_categories"] == ["警告", "罚款", "没收非法财物"]
    assert "legal_rep_id_no" not in shown and "remarks" not in shown
    sealed = envelope.seal(DEK, KEY_ID, "510502198001011235", AAD)
    assert public_penalty({**penalty, "person_id_no": sealed})["person_id_no"] == SEALED  # type: ignore[index]
    assert public_penalty({**penalty, "person_id_no": "[erased]"})["person_id_no"] == "[erased]"  # type: ignore[index]
    assert public_penalty({**penalty, "penalty_categories": ["01"]}) is None  # warning only
    assert public_penalty(penalty, revoked=True) is None


def test_key_ids_are_read_from_encoded_bytes_without_decoding() -> None:
    dek, first, second = bytes(32), "ab" * 16, "cd" * 16
    one = envelope.seal(dek, first, "510502198101011232", b"aad").encode()
    two = envelope.seal(dek, second, "13800001111", b"aad").encode()
    blob = b"\x02" + one + b"\x18" + two + b"\x00casebus-fle1:" + b"casebus-fle1:AQ"
    assert envelope.key_ids_in(blob) == {first, second}  # the truncated ones are skipped
    assert envelope.key_ids_in(b"no envelope here") == set()
