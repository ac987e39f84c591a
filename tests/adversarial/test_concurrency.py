"""Two runs on one mirror, and storage.save() racing a run for the same name."""

from __future__ import annotations

import os
import subprocess
import threading
import time

from django.core.files.base import ContentFile

from symlinkmirror.lock import LOCK_NAME
from symlinkmirror.storage import SymlinkOrCopyStorage

from .helpers import (
    REPO,
    collect,
    make_big_tree,
    make_site,
    manage,
    manage_command,
    project_env,
    temp_leftovers,
    write,
)


def test_second_run_on_a_locked_mirror_fails_fast_and_the_first_finishes(tmp_path):
    media, static, mirror = tmp_path / "media", tmp_path / "static", tmp_path / "mirror"
    static.mkdir()
    # 12,000 linked and 12,000 copied files: the first run must outlast the second's start-up on a busy machine.
    make_big_tree(media, dirs=60)
    env = project_env(tmp_path, media=media, static=static, mirror=mirror, symlink_within=media / "originals")
    first = subprocess.Popen(
        manage_command("collectmirror"), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (mirror / LOCK_NAME).exists() and (mirror / LOCK_NAME).read_text() == str(first.pid):
            break
        time.sleep(0.005)
    started = time.monotonic()

    second = manage("collectmirror", env=env)
    took = time.monotonic() - started
    first_running = first.poll() is None
    out, err = first.communicate(timeout=120)

    assert (second.returncode, second.stdout) == (75, "")
    assert second.stderr == (
        f"CommandError: The mirror '{mirror}' is locked by a run in progress (pid {first.pid}); try again when it ends.\n"
    )
    assert first_running
    assert took < 10  # no waiting for the lock: only Django's start-up
    assert (first.returncode, err) == (0, "")
    assert out == "12000 files linked, 12000 copied, 0 replaced, 0 unmodified, 0 deleted, 0 skipped, 0 failed.\n"
    verified = manage("verifymirror", env=env)
    assert (verified.returncode, verified.stdout) == (0, "24000 files checked: the mirror is clean.\n")
    assert temp_leftovers(mirror) == []


def read_no_follow(path) -> bytes:
    """The bytes of a regular file; OSError (ELOOP) when a link has taken its place meanwhile."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def test_save_racing_a_run_for_the_same_name_always_leaves_one_valid_entry(tmp_path):
    site = make_site(tmp_path / "site")
    source_bytes = os.urandom(256 << 10)
    write(site.static / "app.css", source_bytes)
    write(site.media / "a.jpg", b"original photo")
    collect(site)
    saved_bytes = b"saved by the application " * 20_000
    uploads = SymlinkOrCopyStorage(location=site.mirror_dir, allow_overwrite=True)
    copy_entry, link_entry = site.mirror_dir / "static" / "app.css", site.mirror_dir / "media" / "a.jpg"
    link_target = str(site.media / "a.jpg")
    done = threading.Event()
    seen: list[str] = []
    wrong: list[str] = []

    def save_again_and_again():
        for _ in range(60):
            uploads.save("static/app.css", ContentFile(saved_bytes))
            uploads.save("media/a.jpg", ContentFile(saved_bytes))

    def collect_again_and_again():
        for _ in range(30):
            collect(site, checksum=True)

    def watch():
        # Readers (the CDN) must only ever see a whole file or the right link.
        while not done.is_set():
            for entry in (copy_entry, link_entry):
                try:
                    if entry.is_symlink():
                        target = os.readlink(entry)
                        seen.append("link")
                        if entry != link_entry or target != link_target:
                            wrong.append(f"{entry} -> {target}")
                    else:
                        data = read_no_follow(entry)
                        seen.append("copy")
                        if data not in (saved_bytes, source_bytes if entry == copy_entry else saved_bytes):
                            wrong.append(f"{entry}: {len(data)} bytes")
                except FileNotFoundError:
                    wrong.append(f"{entry} missing")
                except OSError:
                    pass  # a link took its place between is_symlink() and reading: look again

    workers = [threading.Thread(target=save_again_and_again), threading.Thread(target=collect_again_and_again)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    watcher.join()
    final, _ = collect(site, checksum=True)

    assert wrong == []
    assert {"link", "copy"} <= set(seen)
    assert temp_leftovers(site.mirror_dir) == []
    assert final.errors == []
    assert copy_entry.read_bytes() == source_bytes
    assert os.readlink(link_entry) == link_target
