"""SYMLINKMIRROR_LIVE: uploads through Django's own save path reach the mirror once their transaction commits.

Both ways in, through the test client against testproject's upload views: the
model signals over a stock FileSystemStorage, and LiveFileSystemStorage as the
default storage. The immediate backend runs each task at once, in the request;
one test hands the task to a real `manage.py db_worker` over a shared SQLite file.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.db.models.signals import post_save

from symlinkmirror import live
from testproject.models import Photo
from tests.conftest import manage_env

MANAGE = Path(__file__).resolve().parent.parent / "manage.py"
WAYS = ["signals", "storage"]


@pytest.fixture(params=WAYS)
def way(request, mirror_in_tmp_path, settings):
    """SYMLINKMIRROR_LIVE on, the default storage stock (signals) or LiveFileSystemStorage (storage)."""
    settings.SYMLINKMIRROR_LIVE = True
    if request.param == "storage":
        settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "symlinkmirror.live.LiveFileSystemStorage"}}
    return request.param


def upload(client, name: str, data: bytes = b"jpeg bytes", **extra: str):
    return client.post("/photos/", {"title": name, "original": SimpleUploadedFile(name, data), **extra})


def mirrored(setup, name: str) -> bool:
    entry = setup.mirror / "media" / name
    return entry.is_symlink() and os.readlink(entry) == str(setup.media / name)


@pytest.mark.django_db(transaction=True)
def test_a_committed_upload_is_mirrored(way, client, mirror_in_tmp_path):
    response = upload(client, "a.jpg")

    assert response.status_code == 201
    assert response.json()["name"] == "photos/a.jpg"
    assert mirrored(mirror_in_tmp_path, "photos/a.jpg")
    assert sorted(os.listdir(mirror_in_tmp_path.mirror / "media" / "photos")) == ["a.jpg"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_upload_is_not_mirrored(way, client, mirror_in_tmp_path):
    response = upload(client, "a.jpg", fail="1")

    assert response.status_code == 409
    assert (mirror_in_tmp_path.media / "photos" / "a.jpg").exists()  # the storage wrote it; the row never was
    assert Photo.objects.count() == 0
    assert not (mirror_in_tmp_path.mirror / "media").exists()


@pytest.mark.django_db(transaction=True)
def test_a_replacement_mirrors_the_new_name_and_removes_the_old(way, client, mirror_in_tmp_path):
    pk = upload(client, "old.jpg").json()["pk"]
    assert mirrored(mirror_in_tmp_path, "photos/old.jpg")

    response = client.post(f"/photos/{pk}/replace/", {"original": SimpleUploadedFile("new.jpg", b"new")})

    assert response.json()["name"] == "photos/new.jpg"
    assert mirrored(mirror_in_tmp_path, "photos/new.jpg")
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "photos" / "old.jpg")


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_replacement_leaves_the_mirror_as_it_was(way, client, mirror_in_tmp_path):
    pk = upload(client, "old.jpg").json()["pk"]

    response = client.post(f"/photos/{pk}/replace/", {"original": SimpleUploadedFile("new.jpg", b"new"), "fail": "1"})

    assert response.status_code == 409
    assert mirrored(mirror_in_tmp_path, "photos/old.jpg")  # the old file is gone from the source: a reconcile's job
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "photos" / "new.jpg")


@pytest.mark.django_db(transaction=True)
def test_a_deletion_is_mirrored(way, client, mirror_in_tmp_path):
    pk = upload(client, "gone.jpg").json()["pk"]
    upload(client, "kept.jpg")

    response = client.post(f"/photos/{pk}/delete/")

    assert response.status_code == 204
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "photos" / "gone.jpg")
    assert mirrored(mirror_in_tmp_path, "photos/kept.jpg")


@pytest.mark.django_db(transaction=True)
def test_a_file_copied_in_by_hand_waits_for_a_reconcile(way, client, mirror_in_tmp_path):
    (mirror_in_tmp_path.media / "photos").mkdir()
    (mirror_in_tmp_path.media / "photos" / "by-hand.jpg").write_bytes(b"copied in")

    upload(client, "uploaded.jpg")

    assert mirrored(mirror_in_tmp_path, "photos/uploaded.jpg")
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "photos" / "by-hand.jpg")
    call_command("collectmirror", stdout=io.StringIO())
    assert mirrored(mirror_in_tmp_path, "photos/by-hand.jpg")


@pytest.mark.django_db(transaction=True)
def test_the_storage_mixin_mirrors_saves_and_deletions_made_through_the_storage_api(
    client, mirror_in_tmp_path, settings
):
    settings.SYMLINKMIRROR_LIVE = True
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "symlinkmirror.live.LiveFileSystemStorage"}}

    saved = client.post("/uploads/", {"file": SimpleUploadedFile("report.pdf", b"pdf")}).json()["name"]
    rolled_back = client.post("/uploads/", {"file": SimpleUploadedFile("draft.pdf", b"pdf"), "fail": "1"})

    assert saved == "uploads/report.pdf"
    assert mirrored(mirror_in_tmp_path, "uploads/report.pdf")
    assert rolled_back.status_code == 409
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "uploads" / "draft.pdf")
    client.post("/uploads/delete/", {"name": saved})
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "uploads" / "report.pdf")


@pytest.mark.django_db(transaction=True)
def test_signals_do_not_see_the_storage_api_or_a_queryset_update_until_a_reconcile(
    client, mirror_in_tmp_path, settings
):
    settings.SYMLINKMIRROR_LIVE = True
    pk = upload(client, "a.jpg").json()["pk"]
    client.post("/uploads/", {"file": SimpleUploadedFile("direct.pdf", b"pdf")})
    (mirror_in_tmp_path.media / "photos" / "b.jpg").write_bytes(b"b")

    Photo.objects.filter(pk=pk).update(original="photos/b.jpg")

    assert not (mirror_in_tmp_path.mirror / "media" / "uploads").exists()
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "photos" / "b.jpg")
    call_command("collectmirror", stdout=io.StringIO())
    assert mirrored(mirror_in_tmp_path, "uploads/direct.pdf")
    assert mirrored(mirror_in_tmp_path, "photos/b.jpg")


@pytest.mark.django_db(transaction=True)
def test_a_photo_loaded_and_saved_again_with_a_new_file_mirrors_both_names(client, mirror_in_tmp_path, settings):
    settings.SYMLINKMIRROR_LIVE = True
    pk = upload(client, "first.jpg").json()["pk"]
    photo = Photo.objects.only("title").get(pk=pk)  # original deferred: its old name comes from the row
    (mirror_in_tmp_path.media / "photos" / "first.jpg").unlink()

    photo.original = SimpleUploadedFile("second.jpg", b"2")
    photo.save()

    assert mirrored(mirror_in_tmp_path, "photos/second.jpg")
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "photos" / "first.jpg")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("storage", ["stock", "live"])
def test_with_live_off_nothing_is_mirrored_and_no_signal_is_connected(storage, client, mirror_in_tmp_path, settings):
    settings.SYMLINKMIRROR_LIVE = True
    assert post_save.has_listeners(Photo)
    settings.SYMLINKMIRROR_LIVE = False
    if storage == "live":
        settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "symlinkmirror.live.LiveFileSystemStorage"}}

    response = upload(client, "a.jpg")

    assert response.status_code == 201
    assert not post_save.has_listeners(Photo)
    assert not (mirror_in_tmp_path.mirror / "media").exists()


def test_live_with_a_task_backend_tasks_lacks_is_a_system_check_error(settings, mirror_in_tmp_path):
    settings.SYMLINKMIRROR_LIVE = True
    settings.SYMLINKMIRROR_TASK_BACKEND = "queue"

    errors = live.check_task_backend()
    settings.SYMLINKMIRROR_LIVE = False
    quiet = live.check_task_backend()

    assert [error.id for error in errors] == ["symlinkmirror.E031"]
    assert errors[0].msg.startswith(
        "SYMLINKMIRROR_LIVE is on: SYMLINKMIRROR_TASK_BACKEND is 'queue', which TASKS does not configure: "
    )
    assert errors[0].hint == "Add that alias to TASKS, or set SYMLINKMIRROR_TASK_BACKEND to one of its aliases."
    assert quiet == []


@pytest.fixture
def db_worker(transactional_db, mirror_in_tmp_path, tmp_path):
    """`manage.py db_worker` on the "database" backend, over the test database's own SQLite file."""
    database = connection.settings_dict["NAME"]
    assert os.path.isfile(database), f"the test database must be a file both processes open, not {database!r}"
    env = manage_env(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database}},
        MEDIA_ROOT=mirror_in_tmp_path.media,
        STATIC_ROOT=mirror_in_tmp_path.static,
        SYMLINKMIRROR_ROOT=mirror_in_tmp_path.mirror,
        SYMLINKMIRROR_TASK_BACKEND="database",
    )
    log = tmp_path / "db_worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [
                sys.executable,
                str(MANAGE),
                "db_worker",
                "--backend",
                "database",
                "--interval",
                "0.1",
                "--no-startup-delay",
            ],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    yield worker, log
    worker.terminate()
    worker.wait(timeout=30)


@pytest.mark.django_db(transaction=True)
def test_a_db_worker_on_another_process_mirrors_a_committed_upload(db_worker, client, mirror_in_tmp_path, settings):
    worker, log = db_worker
    settings.SYMLINKMIRROR_LIVE = True
    settings.SYMLINKMIRROR_TASK_BACKEND = "database"

    started = time.monotonic()
    response = upload(client, "queued.jpg")
    in_request = mirrored(mirror_in_tmp_path, "photos/queued.jpg")
    while not mirrored(mirror_in_tmp_path, "photos/queued.jpg") and time.monotonic() - started < 30:
        assert worker.poll() is None, log.read_text()
        time.sleep(0.05)
    rolled_back = upload(client, "never.jpg", fail="1")
    time.sleep(1.0)  # ten of the worker's polls

    assert response.status_code == 201
    assert not in_request  # the request only enqueued it
    assert mirrored(mirror_in_tmp_path, "photos/queued.jpg"), log.read_text()
    from django_tasks_db.models import DBTaskResult

    ran = DBTaskResult.objects.filter(task_path="symlinkmirror.livetasks.mirror_names", status="SUCCESSFUL")
    assert ran.exists(), log.read_text()  # the worker ran it, and said so in the shared database
    assert rolled_back.status_code == 409
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "photos" / "never.jpg")


@pytest.mark.django_db(transaction=True)
def test_a_file_deleted_with_its_folder_leaves_the_mirror_with_them(mirror_in_tmp_path):
    """No directory is left to list: the deepest that stands reconciles the name of the one gone."""
    folder = mirror_in_tmp_path.media / "uploads" / "2024" / "12"
    folder.mkdir(parents=True)
    (folder / "x.jpg").write_text("x")
    (mirror_in_tmp_path.media / "uploads" / "keep.jpg").write_text("keep")
    call_command("collectmirror", "-v", "0")
    for gone in (folder / "x.jpg", folder, folder.parent):
        gone.unlink() if gone.is_file() else gone.rmdir()
    live.mirror("media", "uploads/2024/12", ["x.jpg"])
    assert not os.path.lexists(mirror_in_tmp_path.mirror / "media" / "uploads" / "2024")
    assert (mirror_in_tmp_path.mirror / "media" / "uploads" / "keep.jpg").is_symlink()
