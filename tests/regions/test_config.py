"""Two-region deployment pieces that need no cluster: which events cross, the settings of a
region, the copies a sync reads, and MirrorMaker 2's configuration (offline)."""

from __future__ import annotations

import pytest

from casebus.config import ConfigError, load_settings
from casebus.regions import Crossing, share_header
from casebus.security import acls
from casebus.topics import TopicNames
from services.mirror.config import mirror_properties, render
from tests.sync.helpers import penalty

pytestmark = pytest.mark.offline


def test_a_region_runs_on_its_own_cluster_and_registry() -> None:
    qj = load_settings(region="qijiang")
    assert qj.kafka.bootstrap_servers == "127.0.0.1:29092"
    assert (qj.registry.url, qj.registry.topic, qj.registry.follows) == (
        "http://127.0.0.1:28081",
        "luzhou._schemas",
        "luzhou",
    )
    assert qj.kafka_state_dir == qj.var_dir / "regions" / "qijiang" / "kafka"
    lz = load_settings(region="510500")  # by code too
    assert (lz.registry.topic, lz.registry.follows) == ("_schemas", "")
    single = load_settings()
    assert single.home is None and single.kafka_state_dir == single.var_dir / "kafka"


def test_an_unknown_region_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown region 'chengdu'.*luzhou \(510500\)"):
        load_settings(region="chengdu")


def test_a_sync_reads_the_other_regions_copies_under_their_shared_names() -> None:
    names = load_settings(region="qijiang").sync.names_for("500110-SAMR")
    assert "luzhou.casebus.penalty" in names.actual_names()
    assert names.shared("luzhou.casebus.penalty") == "casebus.penalty"
    assert names.actual("casebus.penalty") == "casebus.penalty"  # producers write their own
    assert load_settings().sync.names_for("500110-SAMR").copies == {}
    with pytest.raises(ValueError, match="copies of topics not in play"):
        TopicNames({"casebus.lead": "casebus.lead"}, {"luzhou.casebus.penalty": "casebus.penalty"})


@pytest.mark.parametrize(
    ("envelope", "crosses"),
    [
        ({"shared_with": ["500110-SAMR"]}, ["500110"]),  # an agency there named
        ({"shared_with": ["500110"]}, ["500110"]),  # the region named
        ({"shared_with": []}, []),  # kept at home
        ({"shared_with": ["510500-PSB"]}, []),  # shared at home only
        ({"region": "500110", "shared_with": []}, ["500110"]),  # a case of the other region
        ({"handling": "H3", "shared_with": ["500110-PSB"]}, []),  # police only stays home
        ({"handling": "H2", "shared_with": ["500110"]}, []),  # H2: named agencies only
        ({"handling": "H2", "shared_with": ["500110-SAMR"]}, ["500110"]),
    ],
)
def test_which_events_cross_to_the_other_region(
    envelope: dict[str, object], crosses: list[str]
) -> None:
    event = penalty("P-1", **envelope)
    assert Crossing(load_settings(region="luzhou")).regions(event) == crosses
    assert Crossing(load_settings()).headers(event) == []  # one cluster: no header at all


def test_mirror_maker_filters_on_the_share_header_and_hides_secrets() -> None:
    qj = load_settings(region="qijiang")
    props = mirror_properties(qj, secret=lambda r: f"secret-{r.code}", ca_file=lambda r: "ca.pem")
    assert props["luzhou->qijiang.predicates.shared.name"] == share_header("500110")
    assert props["qijiang->luzhou.predicates.shared.name"] == share_header("510500")
    assert props["luzhou->qijiang.transforms.shared.negate"] == "true"
    assert "_schemas" in props["luzhou->qijiang.topics"]  # the primary's schemas cross
    assert "_schemas" not in props["qijiang->luzhou.topics"]
    assert props["qijiang.exactly.once.source.support"] == "enabled"
    assert props["luzhou.consumer.isolation.level"] == "read_committed"
    text = render(props, hide=["secret-510500", "secret-500110"])
    assert "secret-5" not in text and 'password="********"' in text
    assert "casebus\\\\.penalty" in text  # a regex dot, escaped for a .properties file


def test_the_mirror_principal_reads_shared_topics_and_writes_only_copies() -> None:
    grants = {g for g in acls.plan(load_settings(region="qijiang")) if g.principal == "mirror"}
    writes = {(g.name, g.pattern) for g in grants if g.operation == "write"}
    assert ("luzhou.", "prefixed") in writes
    assert not any(name.startswith("casebus.") for name, _ in writes)
    assert not [g for g in acls.plan(load_settings()) if g.principal == "mirror"]
