"""The demo world: 30 days of deterministic history, live changes, benchmark generators."""

from __future__ import annotations

import msgspec
import pytest

from kubesim import SimCluster
from kubesim.controllers import Controllers
from kubesim.controllers.deployment import REVISION, REVISION_HISTORY
from kubesim.store import Store
from kubesim.util import parse_rfc3339
from kubesim.world import World
from tests.fake.simobjects import make_deployment, make_pod, make_replicaset

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86400.0
DUMPED = (
    "namespaces",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "controllerrevisions",
    "pods",
    "keptnapps",
)


def build(seed: int, with_pods: bool = False, days: float = 30.0) -> World:
    store = Store(seed=seed, history_limit=100)
    controllers = Controllers(store, seed=seed, with_pods=with_pods)
    world = World(store, controllers, seed=seed, history_days=days)
    world.populate(NOW)
    return world


def dump(store: Store) -> bytes:
    return msgspec.json.encode({r: store.list(r) for r in DUMPED})


@pytest.fixture(scope="module")
def world() -> World:
    return build(11, with_pods=True)


def test_history_spans_thirty_days_and_ends_settled(world: World) -> None:
    store = world.store
    created = [parse_rfc3339(r["metadata"]["creationTimestamp"]) for r in store.list("replicasets")]
    created += [
        parse_rfc3339(r["metadata"]["creationTimestamp"]) for r in store.list("controllerrevisions")
    ]
    assert NOW - 30 * DAY <= min(created) < NOW - 29 * DAY
    assert max(created) > NOW - 2 * DAY
    days = {int((NOW - t) // DAY) for t in created}
    assert len(days) >= 20  # spread over the window, not bunched up
    for app in world.apps:
        for w in app.workloads:
            assert world.settled(w), w.name
    assert all(p["status"]["phase"] == "Running" for p in store.list("pods"))


def test_history_has_revisions_rollbacks_and_failures(world: World) -> None:
    store = world.store
    rss = store.list("replicasets")
    assert any(REVISION_HISTORY in r["metadata"]["annotations"] for r in rss)
    kinds = {a.kind for a in world.actions}
    assert {
        "new_version",
        "rollback",
        "restart",
        "failed_rollout",
        "crashloop",
        "fix_forward",
    } <= kinds
    for deploy in store.list("deployments"):
        owned = store.owned("replicasets", deploy["metadata"]["uid"])
        newest = max(int(r["metadata"]["annotations"][REVISION]) for r in owned)
        assert deploy["metadata"]["annotations"][REVISION] == str(newest)
        assert deploy["status"]["observedGeneration"] == deploy["metadata"]["generation"]


def test_identity_styles_and_environments(world: World) -> None:
    store = world.store
    environments = {
        n["metadata"]["name"]: n["metadata"]["labels"]["daylight.dev/environment"]
        for n in store.list("namespaces")
    }
    assert environments["shop-prod"] == "production" and environments["shop-staging"] == "staging"
    templates = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"] for d in store.list("deployments")
    }
    assert templates["catalog"]["annotations"]["keptn.sh/workload"] == "catalog"
    part_of = [t["labels"].get("app.kubernetes.io/part-of") for t in templates.values()]
    assert part_of.count("checkout") == 3
    assert set(templates["legacy-gateway"]["labels"]) == {"app"}
    assert "annotations" not in templates["legacy-gateway"] or not any(
        k.startswith(("keptn.sh/", "app.kubernetes.io/"))
        for k in templates["legacy-gateway"]["annotations"]
    )
    (keptn_app,) = store.list("keptnapps")
    versions = {w["version"] for w in keptn_app["spec"]["workloads"]}
    assert versions == {keptn_app["spec"]["version"]}
    assert store.count("statefulsets") == 1 and store.count("daemonsets") == 1
    commits = [
        t.get("annotations", {}).get("daylight.dev/commit-time")
        for r in store.list("replicasets")
        for t in [r["spec"]["template"]["metadata"]]
    ]
    assert 0.4 < sum(1 for c in commits if c) / len(commits) < 0.95


def test_the_world_is_deterministic_for_a_seed() -> None:
    first, second, other = build(5, True, 3), build(5, True, 3), build(6, True, 3)
    for world in (first, other):
        assert all(world.settled(w) for app in world.apps for w in app.workloads)
        assert not any(world.broken(app) for app in world.apps)
    assert dump(first.store) == dump(second.store)
    assert first.actions == second.actions
    assert dump(first.store) != dump(other.store)


def test_live_ticks_keep_changing_things_and_failures_get_fixed(world: World) -> None:
    store = world.store
    rv = store.rv
    now = NOW
    first = len(world.actions)
    busy_since: dict[str, float] = {}
    longest = 0.0
    for _ in range(150):  # 12.5 simulated minutes at the default 5 s pace
        now += 5.0
        world.tick(now)
        world.controllers.advance(now)
        for app in world.apps:
            if world.busy(app):
                longest = max(longest, now - busy_since.setdefault(app.key, now))
            else:
                busy_since.pop(app.key, None)
    done = world.actions[first:]
    assert store.rv > rv and len(done) > 50
    assert {"new_version", "failed_rollout", "crashloop", "fix_forward"} <= {a.kind for a in done}
    assert longest < 240.0  # every failed or crash-looping change is fixed within minutes


def test_benchmark_generators_are_realistic_and_stable() -> None:
    sizes = [len(msgspec.json.encode(make_pod(i))) for i in range(0, 300, 37)]
    assert all(5_000 <= s <= 10_240 for s in sizes), sizes
    assert make_pod(42) == make_pod(42) and make_pod(42) != make_pod(43)
    pod = make_pod(7)
    assert pod["kind"] == "Pod" and pod["status"]["containerStatuses"][0]["ready"] is True
    rs = make_replicaset(2)
    assert pod["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
    assert rs["metadata"]["ownerReferences"][0]["name"] == make_deployment(2)["metadata"]["name"]
    store = Store()
    for i in range(5):
        store.create("pods", make_pod(i))
    assert store.count("pods") == 5


async def test_the_demo_cluster_starts_serves_and_stops() -> None:
    sim = SimCluster(seed=3, history_days=3, live_interval_s=0.05, pod_ready_s=0.05)
    url = await sim.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        assert sim.store.count("deployments") == 9 and sim.store.count("pods") > 0
        before = len(sim.world.actions)
        await sim.server.wait_for(lambda: len(sim.world.actions) > before + 2, timeout=5)
    finally:
        await sim.stop()
