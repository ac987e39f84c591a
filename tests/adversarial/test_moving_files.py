"""Files that move while a run reads them, and a source directory the run may not read."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading

import pytest

from symlinkmirror import engine

from .helpers import (
    REPO,
    audit_site,
    collect,
    expected_tree,
    files_only,
    make_site,
    manage,
    manage_command,
    mirror_tree,
    project_env,
    temp_leftovers,
    write,
)


@pytest.fixture
def site(tmp_path):
    site = make_site(tmp_path / "site")
    for root, ext in ((site.media, "jpg"), (site.static, "css")):
        for name in "abc":
            write(root / f"{name}.{ext}", f"{name} v1".encode())
    return site


def when_mirrored(actions):
    """An on_event hook that changes a source right after the mirror entry named in actions is handled.

    The walk has listed that whole directory by then, so the following files are
    changed on disk between being listed and being mirrored: a real race,
    started at a chosen moment rather than by luck.
    """
    seen = []

    def hook(event):
        seen.append(event)
        if event.name in actions:
            actions[event.name]()

    return hook, seen


def after_a(site, change):
    """Change b in each source once its a has been mirrored."""
    return when_mirrored(
        {"media/a.jpg": lambda: change(site.media / "b.jpg"), "static/a.css": lambda: change(site.static / "b.css")}
    )


def replace_with_directory(path):
    os.unlink(path)
    write(path / ".secret", b"ignored, never to be published")
    write(path / "x.txt", b"inside")


def test_file_deleted_after_the_walk_listed_it_is_reported_and_the_run_goes_on(site):
    hook, seen = after_a(site, os.unlink)

    report = engine.collect(site.sources, site.mirror, on_event=hook)

    assert report.errors == [
        ("media", "media/b.jpg", "No such file or directory"),
        ("static", "static/b.css", "No such file or directory"),
    ]
    assert [event.message for event in seen] == [
        "Linking 'media/a.jpg'",
        "Failed 'media/b.jpg': No such file or directory",
        "Linking 'media/c.jpg'",
        "Copying 'static/a.css'",
        "Failed 'static/b.css': No such file or directory",
        "Copying 'static/c.css'",
    ]
    assert files_only(mirror_tree(site.mirror_dir)) == expected_tree(site)
    assert temp_leftovers(site.mirror_dir) == []


def test_file_replaced_by_a_directory_after_the_walk_listed_it_is_never_linked(site):
    hook, _seen = after_a(site, replace_with_directory)

    report = engine.collect(site.sources, site.mirror, on_event=hook)
    after, _ = collect(site)

    assert report.errors == [
        ("media", "media/b.jpg", "The source is no longer a regular file"),
        ("static", "static/b.css", "The source is no longer a regular file"),
    ]
    # Neither a link to the directory (it would publish '.secret') nor a copy.
    assert not os.path.lexists(site.mirror_dir / "media" / "b.jpg" / ".secret")
    assert after.errors == []
    assert files_only(mirror_tree(site.mirror_dir)) == expected_tree(site)
    assert not os.path.islink(site.mirror_dir / "media" / "b.jpg")
    assert audit_site(site).clean


def test_file_replaced_by_a_symlink_out_of_the_source_after_the_walk_listed_it_is_never_linked(site, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("never to be published")

    def swap() -> None:
        (site.media / "b.jpg").unlink()
        (site.media / "b.jpg").symlink_to(secret)

    hook, _seen = when_mirrored({"media/a.jpg": swap})

    report = engine.collect(site.sources, site.mirror, on_event=hook)

    assert report.errors == [("media", "media/b.jpg", "The source is no longer a regular file")]
    # A link to media/b.jpg would now be a link through it, to the secret.
    assert not os.path.lexists(site.mirror_dir / "media" / "b.jpg")


def test_source_directory_deleted_while_the_run_is_inside_it(site):
    for name in "xyz":
        write(site.static / "sub" / f"{name}.css", name.encode())
    collect(site)
    for name in "xyz":
        write(site.static / "sub" / f"{name}.css", f"{name} v2".encode())
    hook, _seen = when_mirrored({"static/sub/x.css": lambda: shutil.rmtree(site.static / "sub")})

    report = engine.collect(site.sources, site.mirror, engine.Options(delete=True), on_event=hook)

    assert report.errors == [
        ("static", "static/sub/y.css", "No such file or directory"),
        ("static", "static/sub/z.css", "No such file or directory"),
    ]
    assert (site.mirror_dir / "static" / "sub" / "x.css").read_bytes() == b"x v2"
    assert (site.mirror_dir / "static" / "sub" / "y.css").read_bytes() == b"y"  # the previous copy, whole
    assert temp_leftovers(site.mirror_dir) == []


def test_file_rewritten_while_it_is_copied_is_reported_and_the_previous_copy_kept(site):
    # A writer thread rewrites the source in place, pass after pass, while
    # runs copy it: a real race. A copy that the source changed under is
    # reported and thrown away; the entry at the final name stays whole.
    size = 8 << 20
    big = site.static / "big.bin"
    write(big, b"0" * size)
    collect(site)
    stop = threading.Event()

    def rewrite_forever():
        version = 0
        with open(big, "r+b") as handle:
            while not stop.is_set():
                version = version % 9 + 1
                handle.seek(0)
                for _ in range(size // (64 << 10)):
                    handle.write(str(version).encode() * (64 << 10))
                handle.flush()

    writer = threading.Thread(target=rewrite_forever)
    writer.start()
    outcomes = []
    try:
        for _ in range(6):
            previous = (site.mirror_dir / "static" / "big.bin").read_bytes()
            report, _ = collect(site)
            outcomes.append((report.errors, previous, (site.mirror_dir / "static" / "big.bin").read_bytes()))
    finally:
        stop.set()
        writer.join()
    final, _ = collect(site)

    changed = [(previous, entry) for errors, previous, entry in outcomes if errors]
    assert changed, "the writer never overlapped a copy"
    assert all(
        errors
        in (
            [],
            [("static", "static/big.bin", "The source file changed while it was being copied; run again to copy it")],
        )
        for errors, _previous, _entry in outcomes
    )
    assert all(entry == previous for previous, entry in changed)
    assert all(len(entry) == size for _errors, _previous, entry in outcomes)
    assert temp_leftovers(site.mirror_dir) == []
    assert final.errors == []
    assert (site.mirror_dir / "static" / "big.bin").read_bytes() == big.read_bytes()


def without_dac_override(*command: str) -> list[str]:
    """Run command as root without the capabilities that let root read anything: mode 000 then means no."""
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", *command]


@pytest.mark.root  # setpriv drops capabilities, which only root holds
def test_unreadable_source_directory_and_file_are_reported_and_keep_their_entries(tmp_path):
    site = make_site(tmp_path / "site")
    write(site.static / "private" / "a.css", b"private v1")
    write(site.static / "public" / "b.css", b"public v1")
    write(site.static / "locked.css", b"locked v1")
    write(site.media / "photo.jpg", b"jpeg")
    env = project_env(tmp_path, media=site.media, static=site.static, mirror=site.mirror_dir, symlink_within=site.media)
    assert manage("collectmirror", env=env).returncode == 0
    write(site.static / "private" / "a.css", b"private v2, longer")
    write(site.static / "locked.css", b"locked v2, longer")
    write(site.static / "public" / "b.css", b"public v2, longer")
    os.chmod(site.static / "private", 0)
    os.chmod(site.static / "locked.css", 0)

    try:
        done = manage_run(without_dac_override(*manage_command("collectmirror", "--delete")), env)
        verified = manage_run(without_dac_override(*manage_command("verifymirror")), env)
    finally:
        os.chmod(site.static / "private", stat.S_IRWXU)
        os.chmod(site.static / "locked.css", stat.S_IRUSR | stat.S_IWUSR)

    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Failed 'static/locked.css': Permission denied",
        "Failed 'static/private': Permission denied",
        "CommandError: 2 file(s) failed; see the messages above.",
    ]
    assert done.stdout.splitlines() == [
        "0 files linked, 0 copied, 1 replaced, 1 unmodified, 0 deleted, 0 skipped, 2 failed."
    ]
    # --delete kept the entries of what it could not read; they are the previous, whole copies.
    assert (site.mirror_dir / "static" / "private" / "a.css").read_bytes() == b"private v1"
    assert (site.mirror_dir / "static" / "locked.css").read_bytes() == b"locked v1"
    assert (site.mirror_dir / "static" / "public" / "b.css").read_bytes() == b"public v2, longer"
    assert temp_leftovers(site.mirror_dir) == []
    assert verified.returncode == 1
    assert "unreadable (1):" in verified.stdout.splitlines()
    assert "  'static/private': Permission denied" in verified.stdout.splitlines()


def manage_run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
