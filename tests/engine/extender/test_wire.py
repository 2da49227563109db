"""Wire encodings, byte for byte as Go's encoding/json writes the extender/v1 types."""

from __future__ import annotations

import orjson
import pytest

from engine.extender import wire


def test_filter_result_matches_go_marshal() -> None:
    # Captured from kube-scheduler-simulator (protocol notes S9), with NodeNames instead of Nodes.
    assert wire.filter_result(node_names=["a"], nodes=None, failed={}, unresolvable={}) == (
        b'{"Nodes":null,"NodeNames":["a"],"FailedNodes":{},'
        b'"FailedAndUnresolvableNodes":{},"Error":""}'
    )


def test_other_results() -> None:
    assert wire.host_priority_list([("myhost", 1)]) == b'[{"Host":"myhost","Score":1}]'
    assert wire.host_priority_list({}) == b"[]"
    assert wire.binding_result() == b'{"Error":""}'
    assert wire.preemption_result({"foo": (["myuid"], 1)}) == (
        b'{"NodeNameToMetaVictims":{"foo":{"Pods":[{"UID":"myuid"}],"NumPDBViolations":1}}}'
    )


def test_decode_is_case_insensitive_and_reports_exactness() -> None:
    args, exact = wire.decode_body(b'{"Pod":{},"Nodes":null,"NodeNames":["n"]}')
    assert exact and args == {"pod": {}, "nodes": None, "nodenames": ["n"]}
    args, exact = wire.decode_body(b'{"pod":{},"NODENAMES":["n"]}')
    assert not exact and args["nodenames"] == ["n"]


@pytest.mark.parametrize("body", [b"", b"nope", b"[]", b'"s"', b"{"])
def test_decode_rejects(body: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_body(body)


def test_canonical_object_restores_field_names_but_not_label_keys() -> None:
    lowered = {
        "metadata": {"name": "p", "labels": {"myapp": "x"}, "ownerreferences": [{"kind": "RS"}]},
        "spec": {
            "nodename": "",
            "schedulername": "default-scheduler",
            "nodeselector": {"disktype": "ssd"},
            "containers": [{"resources": {"requests": {"cpu": "1"}}}],
        },
    }
    pod = wire.canonical_object(lowered)
    assert pod["metadata"]["ownerReferences"] == [{"kind": "RS"}]
    assert pod["metadata"]["labels"] == {"myapp": "x"}
    assert pod["spec"]["schedulerName"] == "default-scheduler"
    assert pod["spec"]["nodeSelector"] == {"disktype": "ssd"}
    assert pod["spec"]["containers"][0]["resources"]["requests"] == {"cpu": "1"}


def test_host_priority_list_escapes_odd_names() -> None:
    fast = wire.host_priority_list([("node-1.zone_a", 3), ("n:2", 0)])
    assert orjson.loads(fast) == [
        {"Host": "node-1.zone_a", "Score": 3},
        {"Host": "n:2", "Score": 0},
    ]
    odd = wire.host_priority_list([('we"ird', 1)])
    assert orjson.loads(odd) == [{"Host": 'we"ird', "Score": 1}]
