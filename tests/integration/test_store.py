"""The data layer on moto's DynamoDB: conditional writes never lose an update, and the run lifecycle is enforced."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from moto_platform import Platform

from agentlab.errors import ConcurrentUpdate, Conflict, NotFound
from agentlab.ids import new_ulid
from agentlab.models import AgentCreate, AgentUpdate, FileRecord, Run, utc_now
from agentlab.models.run import ALLOWED_TRANSITIONS, TERMINAL_STATUSES
from agentlab.store.agents import AgentStore
from agentlab.store.files import FileStore
from agentlab.store.runs import RunStore

ORG = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
WRITERS = 20


@pytest.fixture
def runs(platform: Platform) -> RunStore:
    return RunStore(platform.table)


@pytest.fixture
def agents(platform: Platform) -> AgentStore:
    return AgentStore(platform.table)


def new_run(status: str = "queued", org_id: str = ORG) -> Run:
    now = utc_now()
    run_id = new_ulid()
    return Run(
        id=run_id,
        org_id=org_id,
        agent_id=new_ulid(),
        agent_version=1,
        thread_id=run_id,
        prompt="p",
        status=status,  # type: ignore[arg-type]
        created_at=now,
        updated_at=now,
    )


def stored(runs: RunStore, status: str = "queued") -> Run:
    run, created = runs.create(new_run(status))
    assert created
    return run


def run_together(count: int, work: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Start `count` threads at the same moment; collect what each returned or raised."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def body(n: int) -> None:
        barrier.wait()
        try:
            value = work(n)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(value)

    threads = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    return results, errors


def raw_item(platform: Platform, pk: str, sk: str) -> dict[str, Any] | None:
    return platform.table.get(pk, sk)


# optimistic locking ---------------------------------------------------------------------------------------------
def test_concurrent_step_appends_lose_nothing(runs: RunStore) -> None:
    run = stored(runs, "running")

    def append(n: int) -> int:
        step = runs.append_step(
            ORG,
            run.id,
            "think" if n % 2 == 0 else "execute",
            input_tokens=n + 1,
            output_tokens=2 * (n + 1),
            cost_usd=0.001,
            sandbox_s=0.5,
            detail={"writer": n},
        )
        return step.seq

    seqs, errors = run_together(WRITERS, append)

    assert errors == []
    assert sorted(seqs) == list(range(1, WRITERS + 1))
    steps = runs.list_steps(ORG, run.id, limit=200).items
    assert [s.seq for s in steps] == list(range(1, WRITERS + 1))
    assert sorted(s.detail["writer"] for s in steps) == list(range(WRITERS))
    final = runs.get(ORG, run.id)
    assert final.step_count == WRITERS
    assert final.revision == run.revision + WRITERS
    assert final.usage.input_tokens == sum(range(1, WRITERS + 1))
    assert final.usage.output_tokens == 2 * sum(range(1, WRITERS + 1))
    assert final.usage.steps == len(range(0, WRITERS, 2))
    assert final.usage.cost_usd == pytest.approx(0.001 * WRITERS)
    assert final.usage.sandbox_s == pytest.approx(0.5 * WRITERS)


def test_concurrent_read_modify_write_updates_lose_nothing(runs: RunStore) -> None:
    run = stored(runs, "running")

    def add_a_second(run_now: Run) -> Run:
        run_now.usage.sandbox_s += 1.0
        return run_now

    _, errors = run_together(WRITERS, lambda n: runs.update(ORG, run.id, add_a_second))

    assert errors == []
    final = runs.get(ORG, run.id)
    assert final.usage.sandbox_s == pytest.approx(float(WRITERS))
    assert final.revision == run.revision + WRITERS


def test_racing_terminal_transitions_have_exactly_one_winner(runs: RunStore) -> None:
    run = stored(runs, "running")
    targets = ["succeeded", "failed", "cancelled", "budget_exceeded"] * 3

    winners, losers = run_together(len(targets), lambda n: runs.transition(ORG, run.id, targets[n]))

    final = runs.get(ORG, run.id)
    assert final.status in TERMINAL_STATUSES
    # a writer that asked for the status that won sees no change (None -> the stored run); the rest are refused
    assert all(isinstance(exc, Conflict) and exc.code == "invalid_state" for exc in losers)
    assert all(w.status == final.status for w in winners)
    assert len(winners) == targets.count(final.status)
    assert final.revision == run.revision + 1


def test_concurrent_creates_with_one_idempotency_key_store_one_run(runs: RunStore) -> None:
    def create(n: int) -> tuple[str, bool]:
        run, created = runs.create(new_run(), idempotency_key="same-key", body_fingerprint="same-body")
        return run.id, created

    results, errors = run_together(10, create)

    assert errors == []
    assert sum(created for _, created in results) == 1
    assert len({run_id for run_id, _ in results}) == 1
    assert len(runs.list(ORG, limit=50, cursor=None).items) == 1


def test_idempotency_key_with_another_body_is_a_conflict(runs: RunStore) -> None:
    first, _ = runs.create(new_run(), idempotency_key="k", body_fingerprint="a")
    replay, created = runs.create(new_run(), idempotency_key="k", body_fingerprint="a")
    assert replay.id == first.id and not created
    with pytest.raises(Conflict) as caught:
        runs.create(new_run(), idempotency_key="k", body_fingerprint="b")
    assert caught.value.code == "idempotency_key_reused"
    assert [r.id for r in runs.list(ORG, limit=50, cursor=None).items] == [first.id]


def test_idempotency_keys_are_scoped_to_the_org(runs: RunStore) -> None:
    other_org = new_ulid()
    mine, _ = runs.create(new_run(), idempotency_key="k", body_fingerprint="a")
    theirs, created = runs.create(new_run(org_id=other_org), idempotency_key="k", body_fingerprint="a")
    assert created and theirs.id != mine.id and theirs.org_id == other_org


def test_concurrent_agent_updates_never_overwrite_each_other(agents: AgentStore) -> None:
    agent = agents.create(ORG, AgentCreate(name="contended"))

    def update(n: int) -> int:
        return agents.update(ORG, agent.id, AgentUpdate(description=f"writer {n}")).version

    versions, errors = run_together(10, update)

    assert all(isinstance(exc, ConcurrentUpdate) for exc in errors)
    assert len(versions) + len(errors) == 10 and versions
    final = agents.get(ORG, agent.id)
    assert final.version == 1 + len(versions)
    history = agents.list_versions(ORG, agent.id, limit=50, cursor=None).items
    assert [v.version for v in history] == list(range(final.version, 0, -1))
    assert history[0].description == final.description


def test_concurrent_creates_of_one_agent_name_leave_one_agent(agents: AgentStore) -> None:
    results, errors = run_together(8, lambda n: agents.create(ORG, AgentCreate(name="only-one")).id)
    assert len(results) == 1
    assert len(errors) == 7 and all(isinstance(e, Conflict) and e.code == "agent_name_taken" for e in errors)
    assert [a.id for a in agents.list(ORG, limit=50, cursor=None).items] == results


def test_a_file_record_replace_with_a_stale_revision_is_refused(platform: Platform) -> None:
    files = FileStore(platform.table)
    record = FileRecord(
        id=new_ulid(), org_id=ORG, name="a.csv", content_type="text/csv", size=3, status="pending", created_at=utc_now()
    )
    files.create(record)
    files.replace(record.model_copy(update={"status": "ready"}), expected_revision=1)
    with pytest.raises(ConcurrentUpdate):
        files.replace(record.model_copy(update={"status": "rejected"}), expected_revision=1)
    assert files.get(ORG, record.id).status == "ready" and files.revision(ORG, record.id) == 2


# the run lifecycle ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "target"),
    [
        (start, target)
        for start in ("queued", "running", "waiting_approval")
        for target in ("queued", "running", "waiting_approval", *sorted(TERMINAL_STATUSES))
        if target != start and target not in ALLOWED_TRANSITIONS[start]
    ],
)
def test_transitions_outside_the_lifecycle_are_refused(
    platform: Platform, runs: RunStore, start: str, target: str
) -> None:
    run = stored(runs, start)
    before = raw_item(platform, f"ORG#{ORG}", f"RUN#{run.id}")
    with pytest.raises(Conflict) as caught:
        runs.transition(ORG, run.id, target)
    assert caught.value.code == "invalid_state"
    assert raw_item(platform, f"ORG#{ORG}", f"RUN#{run.id}") == before


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
def test_terminal_runs_never_change(platform: Platform, runs: RunStore, terminal: str) -> None:
    run = stored(runs, "running")
    runs.transition(ORG, run.id, terminal, error={"code": "x", "message": "why"})
    before = raw_item(platform, f"ORG#{ORG}", f"RUN#{run.id}")

    for target in ("queued", "running", "waiting_approval", *TERMINAL_STATUSES):
        if target == terminal:
            assert runs.transition(ORG, run.id, target, result="again").result is None
            continue
        with pytest.raises(Conflict):
            runs.transition(ORG, run.id, target, result="changed")

    assert raw_item(platform, f"ORG#{ORG}", f"RUN#{run.id}") == before


def test_a_run_goes_through_its_lifecycle_with_timestamps(runs: RunStore) -> None:
    run = stored(runs)
    assert run.started_at is None and run.ended_at is None

    running = runs.transition(ORG, run.id, "running")
    assert running.started_at is not None and running.ended_at is None
    waiting = runs.transition(ORG, run.id, "waiting_approval")
    resumed = runs.transition(ORG, run.id, "running", only_from=frozenset({"waiting_approval"}))
    assert resumed.started_at == running.started_at
    with pytest.raises(Conflict):
        runs.transition(ORG, run.id, "waiting_approval", only_from=frozenset({"queued"}))
    done = runs.transition(ORG, run.id, "succeeded", result="42")

    assert done.ended_at is not None and done.result == "42"
    assert [running.revision, waiting.revision, resumed.revision, done.revision] == [2, 3, 4, 5]
    stored_run = runs.get(ORG, run.id)
    assert stored_run == done
    # the status index moved with the run
    assert [r.id for r in runs.list(ORG, limit=10, cursor=None, status="succeeded").items] == [run.id]
    assert runs.list(ORG, limit=10, cursor=None, status="running").items == []


def test_reads_are_scoped_to_the_org(runs: RunStore) -> None:
    run = stored(runs)
    other = new_ulid()
    with pytest.raises(NotFound):
        runs.get(other, run.id)
    with pytest.raises(NotFound):
        runs.transition(other, run.id, "running")
    with pytest.raises(NotFound):
        runs.append_step(other, run.id, "think")
    assert runs.list(other, limit=10, cursor=None).items == []
    assert runs.get(ORG, run.id).status == "queued"


def test_steps_page_after_a_sequence_number(runs: RunStore) -> None:
    run = stored(runs, "running")
    for n in range(5):
        runs.append_step(ORG, run.id, "execute", detail={"n": n})
    first = runs.list_steps(ORG, run.id, after=0, limit=2)
    assert [s.seq for s in first.items] == [1, 2] and first.next_cursor == "2"
    rest = runs.list_steps(ORG, run.id, after=int(first.next_cursor), limit=10)
    assert [s.seq for s in rest.items] == [3, 4, 5]
    empty = runs.list_steps(ORG, run.id, after=5)
    assert empty.items == [] and empty.next_cursor == "5"
