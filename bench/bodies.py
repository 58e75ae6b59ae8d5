#!/usr/bin/env python3
"""The upstream's fixed answers for scripts/bench.sh, in both API versions.

    bench/bodies.py DIR

Activity-group mode (`activity.miloapis.com/v1alpha1` on the wire, rewritten to v1 by the
filter): event.json, created.json, list.json, watch.jsonl. Standard-paths mode (the upstream
serves core/v1 itself, nothing is converted): event-v1.json, created-v1.json, list-v1.json,
watch-v1.jsonl. Both: create-request.json (the S2 body, a 1 KiB core/v1 create with a forged
scope annotation the filter must replace) and pods.json (S5).
"""
import json
import sys

out = sys.argv[1]
ACT = "activity.miloapis.com/v1alpha1"


def event(i, api=ACT, message=None):
    return {
        "kind": "Event", "apiVersion": api,
        "metadata": {"name": f"test-pod.{i:016x}", "namespace": "default",
                     "uid": "0b7e3a64-7d0e-4f7a-9a51-2f7c1d3b9e10", "resourceVersion": str(1000 + i),
                     "creationTimestamp": "2026-11-26T08:00:00Z",
                     "annotations": {"platform.miloapis.com/scope.type": "Organization",
                                     "platform.miloapis.com/scope.name": "acme"}},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": "default",
                           "name": "test-pod", "uid": "8f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
                           "resourceVersion": "4242", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled",
        "message": message or "Successfully pulled image \"registry.example.com/app:1.2.3\" in 1.2s.",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-26T08:00:00Z", "lastTimestamp": "2026-11-26T08:00:05Z",
        "count": 3, "type": "Normal", "eventTime": None,
        "reportingComponent": "kubelet", "reportingInstance": "node-1",
    }


def dump(obj):
    return json.dumps(obj, separators=(",", ":"))


def write(name, text):
    with open(f"{out}/{name}", "w") as f:
        f.write(text)


for api, suffix in ((ACT, ""), ("v1", "-v1")):
    # S1: exactly 947 bytes, as in the design's baseline.
    e = event(1, api)
    e["metadata"]["name"] = "test-event"
    e["message"] += "x" * (947 - len(dump(e)))
    assert len(dump(e)) == 947, len(dump(e))
    write(f"event{suffix}.json", dump(e))
    write(f"created{suffix}.json", dump(event(2, api)))
    items = [event(i, api) for i in range(500)]
    for it in items:
        it.pop("kind")
        it.pop("apiVersion")
    write(f"list{suffix}.json", dump({"kind": "EventList", "apiVersion": api,
                                      "metadata": {"resourceVersion": "5000"}, "items": items}))
    write(f"watch{suffix}.jsonl", "".join(
        dump({"type": "ADDED" if i % 3 == 0 else "MODIFIED", "object": event(i, api)}) + "\n"
        for i in range(10000)))

# S2 request: a 1 KiB core/v1 create with forged scope annotations.
c = event(3, api="v1")
c["metadata"] = {"name": "bench-create", "namespace": "default",
                 "annotations": {"platform.miloapis.com/scope.name": "forged"}}
body = dump(c)
c["message"] += "y" * (1024 - len(body))
body = dump(c)
assert len(body) == 1024
write("create-request.json", body)
write("pods.json", dump({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}))
