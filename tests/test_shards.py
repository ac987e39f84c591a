"""The pieces of a distributed run in one process: the planner's cut, the database lock, a shard's claim and retry.

The real workers are tests/test_distributed.py's; these pin down each rule on its own,
with pytest-django's database (transaction=True: the lease threads use connections of their own).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.utils import timezone

from symlinkmirror import distributed, engine, sharding, shardrun
from symlinkmirror.leases import database_lock
from symlinkmirror.lock import MirrorLocked
from symlinkmirror.models import MirrorLease, MirrorRun, Shard, ShardEvent
from symlinkmirror.scope import Part
from symlinkmirror.sources import Source
from tests.test_engine import snapshot


def tree(media: Path, shape: dict) -> None:
    for name, inside in shape.items():
        if isinstance(inside, dict):
            (media / name).mkdir(parents=True, exist_ok=True)
            tree(media / name, inside)
        else:
            (media / name).write_text(inside)


def test_the_cut_expands_the_frontier_until_it_has_the_shards_asked_for(tmp_path):
    tree(tmp_path, {"a": {"x": {"1": "1"}, "y": {"2": "2"}}, "b": {"3": "3"}, "c": {"z": {"w": {"4": "4"}}}, "f": "f"})
    source = Source("media", FileSystemStorage(location=tmp_path), "media")
    assert sharding.cut(source, 2).shards == tuple(Part("media", rel) for rel in ("a", "b", "c"))
    four = sharding.cut(source, 4)
    assert [part.rel for part in four.shards] == ["a/x", "a/y", "b", "c"]  # one directory expanded was enough
    assert four.crown == Part("media", "", excluded=frozenset({"a/x", "a/y", "b", "c"}))
    five = sharding.cut(source, 5)
    assert [part.rel for part in five.shards] == ["a/x", "a/y", "b", "c/z/w"]  # b is a leaf: a shard as it is


def test_the_cut_makes_no_shard_of_an_ignored_directory_or_a_link(tmp_path):
    tree(tmp_path, {"a": {"1": "1"}, ".git": {"HEAD": "x"}, "CVS": {"e": "e"}})
    (tmp_path / "link").symlink_to(tmp_path / "a")
    source = Source("media", FileSystemStorage(location=tmp_path), "media")
    cut = sharding.cut(source, 8, tuple(engine.DEFAULT_IGNORE_PATTERNS))
    assert [part.rel for part in cut.shards] == ["a"]
    assert sharding.cut(Source("gone", FileSystemStorage(location=tmp_path / "gone"), "gone")).shards == ()


@pytest.mark.django_db(transaction=True)
def test_the_database_lock_admits_one_run_and_a_lease_that_expired(settings, tmp_path):
    with database_lock(str(tmp_path)):
        with pytest.raises(MirrorLocked, match="SYMLINKMIRROR_LOCK = 'database'"), database_lock(str(tmp_path)):
            pass
        with database_lock(str(tmp_path / "other")):  # another mirror is another row
            pass
    assert not MirrorLease.objects.exists()  # released
    MirrorLease.objects.create(mirror=str(tmp_path), holder="dead:1:x", expires=timezone.now() - timedelta(seconds=1))
    with database_lock(str(tmp_path)):
        assert MirrorLease.objects.get().holder != "dead:1:x"


@pytest.mark.django_db(transaction=True)
def test_a_run_with_the_database_lock_fails_while_another_holds_it(mirror_in_tmp_path, settings):
    settings.SYMLINKMIRROR_LOCK = "database"
    (mirror_in_tmp_path.media / "a.txt").write_text("a")
    sources = engine.configured_sources()
    mirror = engine.mirror_storage()
    MirrorLease.objects.create(
        mirror=os.fspath(mirror.location), holder="alive:2:y", expires=timezone.now() + timedelta(minutes=1)
    )
    with pytest.raises(MirrorLocked, match="alive:2:y"):
        engine.collect(sources, mirror)
    MirrorLease.objects.all().delete()
    assert engine.collect(sources, mirror).totals["linked"] == 1


def shard_of(mirror_in_tmp_path, rel: str, *, lists: bool = True) -> Shard:
    mirror = engine.mirror_storage()
    run = MirrorRun.objects.create(
        kind=MirrorRun.Kind.COLLECT,
        mirror=os.path.realpath(mirror.location),
        options={
            "options": shardrun.options_document(engine.Options(delete=True)),
            "sources": ["media"],
            "lists": lists,
        },
        heartbeat=timezone.now(),
    )
    return shardrun.shard_row(run.id, Part("media", rel)).__class__.objects.create(run=run, source="media", rel=rel)


@pytest.mark.django_db(transaction=True)
def test_a_shard_retried_after_its_worker_died_changes_nothing_already_right(mirror_in_tmp_path):
    tree(mirror_in_tmp_path.media, {"a": {"x": {"1": "1", "2": "2"}, "3": "3"}})
    shard = shard_of(mirror_in_tmp_path, "a")
    assert shardrun.run(shard.id) == "done"
    first = snapshot(mirror_in_tmp_path.mirror)
    ctimes = {rel: os.lstat(mirror_in_tmp_path.mirror / rel).st_ctime_ns for rel in first}
    assert shardrun.run(shard.id) == "not claimed: done, held by a live worker, or its run abandoned"
    # As the coordinator does once a lease expired: pending again, another attempt.
    Shard.objects.filter(id=shard.id).update(state=Shard.State.PENDING)
    assert shardrun.run(shard.id) == "done"
    shard.refresh_from_db()
    assert shard.attempts == 2
    assert shard.result["counts"]["media"] == {"unmodified": 3}
    assert snapshot(mirror_in_tmp_path.mirror) == first
    assert {rel: os.lstat(mirror_in_tmp_path.mirror / rel).st_ctime_ns for rel in first} == ctimes


@pytest.mark.django_db(transaction=True)
def test_changes_a_dead_attempt_planned_are_listed_though_never_confirmed(mirror_in_tmp_path):
    tree(mirror_in_tmp_path.media, {"a": {"1": "1", "2": "2"}})
    shard = shard_of(mirror_in_tmp_path, "a")
    claimed = shardrun.claim(shard.id)
    assert claimed is not None
    recorder = shardrun.Recorder(claimed, __import__("threading").Event())
    pair_source = engine.configured_sources(["media"])[0]
    from symlinkmirror.pairs import Pair
    from symlinkmirror.plan import Step
    from symlinkmirror.vocab import Action, Verdict

    # The attempt recorded its next changes, then died before carrying them out.
    recorder.record([Step(Pair(pair_source, "media/a/1", None, None), Verdict.MISSING, Action.CREATE)])
    Shard.objects.filter(id=shard.id).update(
        lease_expires=timezone.now() - timedelta(seconds=1), state=Shard.State.PENDING
    )
    assert shardrun.run(shard.id) == "done"
    coordinator = distributed.Coordinator(
        MirrorRun.Kind.COLLECT, [pair_source], engine.mirror_storage(), engine.Options(), None, True
    )
    events = coordinator._events(claimed.run)
    assert sorted((str(e.action), e.name) for e in events) == [("linked", "media/a/1"), ("linked", "media/a/2")]
    assert ShardEvent.objects.filter(planned=True).count() == 1  # the dead attempt's, kept until the run ends
    # Had the retry found it right (the dead attempt made it), its URL would still be listed:
    ShardEvent.objects.filter(planned=False).delete()
    assert [(str(e.action), e.name) for e in coordinator._events(claimed.run)] == [("replaced", "media/a/1")]


@pytest.mark.django_db(transaction=True)
def test_collectmirror_distributed_on_the_immediate_backend_is_a_single_run(mirror_in_tmp_path, capsys):
    """The default backend runs each shard at once, in the coordinator: no worker, the same output."""
    tree(mirror_in_tmp_path.media, {"a": {"x": {"1": "1"}}, "b": {"2": "2"}, "3": "3"})
    call_command("collectmirror", "--distributed", "--shards", "2", "--delete", "-v", "1")
    distributed_out = capsys.readouterr().out
    (mirror_in_tmp_path.media / "b" / "2").unlink()
    call_command("collectmirror", "--distributed", "--delete", "-v", "1")
    refreshed = capsys.readouterr().out
    assert distributed_out.strip().endswith(
        "3 files linked, 0 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed."
    )
    assert "Deleting 'media/b/2'" in refreshed and "1 deleted" in refreshed
    assert not MirrorRun.objects.exists() and not Shard.objects.exists()  # a run leaves no rows behind
    call_command("verifymirror", "--distributed")
    assert capsys.readouterr().out.strip() == "2 files checked: the mirror is clean."


@pytest.mark.django_db(transaction=True)
def test_distributed_names_the_setting_when_the_backend_cannot_run_tasks(mirror_in_tmp_path, settings):
    from django.core.management.base import CommandError

    package = "django_tasks" if __import__("django").VERSION < (6, 0) else "django.tasks"
    settings.TASKS = {**settings.TASKS, "never": {"BACKEND": f"{package}.backends.dummy.DummyBackend"}}
    settings.SYMLINKMIRROR_TASK_BACKEND = "never"
    with pytest.raises(CommandError, match="SYMLINKMIRROR_TASK_BACKEND is 'never', a dummy backend"):
        call_command("collectmirror", "--distributed")
    settings.SYMLINKMIRROR_TASK_BACKEND = "missing"
    with pytest.raises(CommandError, match="SYMLINKMIRROR_TASK_BACKEND is 'missing'"):
        call_command("verifymirror", "--distributed")
    with pytest.raises(CommandError, match="--shards N needs --distributed"):
        call_command("collectmirror", "--shards", "3")


@pytest.mark.django_db(transaction=True)
def test_distributed_without_the_apps_tables_says_to_migrate(mirror_in_tmp_path):
    from django.core.management.base import CommandError
    from django.db import connection

    with connection.schema_editor() as editor:
        editor.delete_model(ShardEvent)
        editor.delete_model(Shard)
        editor.delete_model(MirrorRun)
    try:
        with pytest.raises(CommandError, match="run `manage.py migrate` for the symlinkmirror app"):
            call_command("collectmirror", "--distributed")
    finally:
        with connection.schema_editor() as editor:
            editor.create_model(MirrorRun)
            editor.create_model(Shard)
            editor.create_model(ShardEvent)


@pytest.mark.django_db(transaction=True)
def test_with_workers_every_change_of_earlier_batches_is_planned_or_confirmed_at_each_record(
    mirror_in_tmp_path, monkeypatch
):
    """Threads finish steps late: a step planned in one batch may still run when the next batch is recorded."""
    (mirror_in_tmp_path.media / "a").mkdir()
    for i in range(1500):
        (mirror_in_tmp_path.media / "a" / f"{i:05}").write_text("x")
    mirror = engine.mirror_storage()
    run = MirrorRun.objects.create(
        kind=MirrorRun.Kind.COLLECT,
        mirror=os.path.realpath(mirror.location),
        options={
            "options": shardrun.options_document(engine.Options(delete=True, workers=4)),
            "sources": ["media"],
            "lists": True,
        },
        heartbeat=timezone.now(),
    )
    shard = shardrun.shard_row(run.id, Part("media", "a"))
    shard.save()
    recorded: list[str] = []
    gaps: list[int] = []
    original = shardrun.Recorder.record

    def record(self, steps):
        original(self, steps)
        rows = {bytes(n).decode() for n in ShardEvent.objects.filter(shard_id=shard.id).values_list("name", flat=True)}
        gaps.append(len([name for name in recorded if name not in rows]))
        recorded.extend(step.pair.name for step in steps)

    monkeypatch.setattr(shardrun.Recorder, "record", record)  # a spy: the real record() runs
    assert shardrun.run(shard.id) == "done"
    assert len(gaps) == 3 and not any(gaps)
    assert not ShardEvent.objects.filter(planned=True).exists()  # the attempt finished: nothing stays planned


@pytest.mark.django_db(transaction=True)
def test_a_task_that_dies_before_it_claims_its_shard_is_enqueued_again(mirror_in_tmp_path, settings, monkeypatch):
    """The backend's task failed before the shard table knew of it: the coordinator must not wait for ever."""
    import types

    from django.db import OperationalError

    settings.SYMLINKMIRROR_LEASE_SECONDS = 1
    tree(mirror_in_tmp_path.media, {"a": {"1": "1"}, "b": {"2": "2"}})
    real_claim, calls = shardrun.claim, []

    def claim(shard_id):
        calls.append(shard_id)
        if len(calls) == 1:
            raise OperationalError("database is locked")  # as SQLite says past its timeout
        return real_claim(shard_id)

    monkeypatch.setattr(shardrun, "claim", claim)
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        assert len(polls) < 200, [(s.rel, s.state, s.enqueued, s.attempts) for s in Shard.objects.all()]
        time.sleep(seconds)

    monkeypatch.setattr(distributed, "time", types.SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    call_command("collectmirror", "--distributed", "--shards", "2", "-v", "0")
    assert len(calls) == 3  # a, b, and a again
    assert (mirror_in_tmp_path.mirror / "media" / "a" / "1").is_symlink()


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_database_lease_was_taken_over_is_told_so(settings, tmp_path):
    from symlinkmirror.lock import check_held

    settings.SYMLINKMIRROR_LEASE_SECONDS = 0.6
    with database_lock(str(tmp_path)):
        check_held()  # held: nothing to say
        # Its renewals stalled (a paused VM, a busy database) until the lease expired, and another run took it.
        MirrorLease.objects.update(expires=timezone.now() - timedelta(seconds=1))
        with database_lock(str(tmp_path)):
            time.sleep(0.5)
            with pytest.raises(MirrorLocked, match="expired before it could renew it"):
                check_held()
    check_held()  # both released: nothing held, nothing lost


@pytest.mark.django_db(transaction=True)
def test_unmanaged_entries_are_audited_once_beside_a_source_that_keeps_generations(mirror_in_tmp_path, settings):
    """The whole run of the generational source audits the entries outside every prefix; the crown must not again."""
    settings.SYMLINKMIRROR_SOURCES = {
        "media": {"storage": "default", "prefix": "media", "generations": 2},
        "static": {"storage": "staticfiles", "prefix": "static"},
    }
    tree(mirror_in_tmp_path.media, {"a": {"1": "1"}})
    tree(mirror_in_tmp_path.static, {"css": {"site.css": "body {}"}})
    call_command("collectmirror", "-v", "0")
    os.symlink("/etc/hostname", mirror_in_tmp_path.mirror / "stray.txt")
    sources, mirror = engine.configured_sources(), engine.mirror_storage()
    single = engine.verify(sources, mirror)
    spread = distributed.verify(sources, mirror, shards=2)
    assert [(f.category, f.name) for f in single.findings] == [("escaping-link", "stray.txt")]
    assert [(f.category, f.name) for f in spread.findings] == [("escaping-link", "stray.txt")]
    assert spread.checked == single.checked == 2
