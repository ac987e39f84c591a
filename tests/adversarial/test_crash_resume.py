"""kill -9 in the middle of a real run, then a re-run: complete, clean, no leftovers, nothing partial."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

from .helpers import REPO, files_only, make_big_tree, manage, manage_command, mirror_tree, project_env, temp_leftovers


def check_every_entry_whole(mirror, media) -> int:
    """Every entry at a final name is a link to its source or a copy equal to it; return how many there are."""
    count = 0
    for dirpath, _dirnames, filenames in os.walk(mirror / "media"):
        for name in filenames:
            if name.startswith(".symlinkmirror-tmp-"):
                continue
            entry = os.path.join(dirpath, name)
            source = media / os.path.relpath(entry, mirror / "media")
            if os.path.islink(entry):
                assert os.readlink(entry) == str(source)
            else:
                with open(entry, "rb") as copy:
                    assert copy.read() == source.read_bytes(), f"'{entry}' is partial"
            count += 1
    return count


def test_kill_9_mid_run_then_a_rerun_completes_the_mirror(tmp_path):
    media, static, mirror = tmp_path / "media", tmp_path / "static", tmp_path / "mirror"
    static.mkdir()
    make_big_tree(media, dirs=50)  # 10,000 linked and 10,000 copied files
    env = project_env(tmp_path, media=media, static=static, mirror=mirror, symlink_within=media / "originals")
    run = subprocess.Popen(manage_command("collectmirror"), cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    # Copies come after the 10,000 links: kill once they are well under way.
    while not (mirror / "media" / "renditions" / "d010").exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    run.send_signal(signal.SIGKILL)
    run.wait()
    killed_with = check_every_entry_whole(mirror, media)

    rerun = manage("collectmirror", env=env, timeout=120)
    verified = manage("verifymirror", env=env, timeout=120)

    assert run.returncode == -signal.SIGKILL
    assert 10_000 < killed_with < 20_000
    assert rerun.returncode == 0, rerun.stderr
    counts = re.fullmatch(
        r"0 files linked, (\d+) copied, 0 replaced, (\d+) unmodified, 0 deleted, 0 skipped, 0 failed\.",
        rerun.stdout.splitlines()[-1],
    )
    assert counts is not None, rerun.stdout
    assert int(counts[1]) + int(counts[2]) == 20_000
    assert int(counts[1]) == 20_000 - killed_with
    assert (verified.returncode, verified.stdout) == (0, "20000 files checked: the mirror is clean.\n")
    assert temp_leftovers(mirror) == []
    assert check_every_entry_whole(mirror, media) == 20_000


SAVE_FOREVER = textwrap.dedent(
    """
    import os, sys, time
    import django
    django.setup()
    from django.core.files.base import File
    from symlinkmirror.storage import SymlinkOrCopyStorage

    class Endless(File):
        def chunks(self, chunk_size=None):
            yield b"half of the new bytes"
            print("writing", flush=True)
            time.sleep(600)
            yield b"never"

    storage = SymlinkOrCopyStorage(location=sys.argv[1], allow_overwrite=True)
    storage.save("renditions/a.jpg", Endless(None, name="a.jpg"))
    """
)


def test_kill_9_during_save_leaves_the_previous_file_and_the_next_run_removes_the_temporary(tmp_path):
    media, static, mirror = tmp_path / "media", tmp_path / "static", tmp_path / "mirror"
    (media / "renditions").mkdir(parents=True)
    static.mkdir()
    (media / "renditions" / "a.jpg").write_bytes(b"the previous bytes")
    (tmp_path / "none").mkdir()
    env = project_env(tmp_path, media=media, static=static, mirror=mirror, symlink_within=tmp_path / "none")
    assert manage("collectmirror", env=env).returncode == 0
    saving = subprocess.Popen(
        [sys.executable, "-c", SAVE_FOREVER, str(mirror / "media")], cwd=REPO, env=env, stdout=subprocess.PIPE
    )
    assert saving.stdout.readline() == b"writing\n"
    saving.send_signal(signal.SIGKILL)
    saving.wait()
    leftovers = temp_leftovers(mirror)

    rerun = manage("collectmirror", "-v", "2", env=env)

    assert len(leftovers) == 1
    assert (mirror / "media" / "renditions" / "a.jpg").read_bytes() == b"the previous bytes"
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines() == [
        "Skipping 'media/renditions/a.jpg' (not modified)",
        f"Removing leftover temporary file '{leftovers[0]}'",
        "0 files linked, 0 copied, 0 replaced, 1 unmodified, 0 deleted, 0 skipped, 0 failed.",
    ]
    assert temp_leftovers(mirror) == []
    assert files_only(mirror_tree(mirror)) == {
        "media/renditions/a.jpg": ("file", b"the previous bytes"),
    }
