"""The settler may only say what plan.decide() says: each tree walked with it and without it, on real files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage

from symlinkmirror import engine, plan
from symlinkmirror.settle import Settled
from symlinkmirror.sources import Source
from symlinkmirror.storage import SymlinkOrCopyStorage
from symlinkmirror.vocab import Action, Verdict


def site(tmp_path: Path, *, linked: bool, style: str = "absolute") -> tuple[Source, SymlinkOrCopyStorage, Path]:
    media, outside = tmp_path / "media", tmp_path / "outside"
    for name in ("right.txt", "stale.txt", "wrong.txt", "kind.txt", "missing.txt", "dir.txt", ".hidden", "renamed.txt"):
        (media / "sub").mkdir(parents=True, exist_ok=True)
        (media / name).write_text(f"the bytes of {name}")
    (media / "sub" / "deep.txt").write_text("deep")
    outside.mkdir()
    (outside / "secret.txt").write_text("the bytes of right.txt")
    roots = [str(media)] if linked else []
    mirror = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=roots or [str(tmp_path / "none")])
    source = Source("media", FileSystemStorage(location=media), "media")
    return source, mirror, media


def damage(mirror_dir: Path, media: Path, outside: Path) -> None:
    """One entry of each kind the plan must see; right.txt, sub/deep.txt and .hidden stay as made."""
    stale = mirror_dir / "stale.txt"
    os.utime(stale, ns=(0, 0), follow_symlinks=False)  # a link, or a copy, of another version
    wrong = mirror_dir / "wrong.txt"
    wrong.unlink()
    if os.path.islink(mirror_dir / "right.txt"):
        wrong.symlink_to(media / "kind.txt")
        (mirror_dir / "kind.txt").unlink()
        (mirror_dir / "kind.txt").write_text("the bytes of kind.txt")
    else:
        wrong.write_text("other bytes, other size")
        (mirror_dir / "kind.txt").unlink()
        (mirror_dir / "kind.txt").symlink_to(media / "kind.txt")
    (mirror_dir / "missing.txt").unlink()
    (mirror_dir / "dir.txt").unlink()
    (mirror_dir / "dir.txt").mkdir()
    (mirror_dir / "orphan.txt").symlink_to(outside / "secret.txt")
    if os.path.islink(mirror_dir / "right.txt"):  # at an ignored name, a right link the walk keeps
        (mirror_dir / ".hidden").symlink_to(media / ".hidden")
        stamp = (media / ".hidden").stat().st_ctime_ns
        os.utime(mirror_dir / ".hidden", ns=(stamp, stamp), follow_symlinks=False)
    else:
        shutil.copy2(media / ".hidden", mirror_dir / ".hidden")
    # Replaced by a rename, with its mtime kept (as rsync -a and cp -p do): only the new inode's ctime tells.
    renamed = media / "renamed.txt"
    st = renamed.stat()
    (media / "new.tmp").write_text("THE BYTES OF RENAMED.TXT")
    os.utime(media / "new.tmp", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.rename(media / "new.tmp", renamed)


def decisions(run: engine._Run, source: Source, *, settle: bool) -> tuple[dict[str, tuple], set[str]]:
    walk = run._walk(source)
    if not settle:
        walk.settler = None
    decided, settled = {}, set()
    for item in walk:
        if isinstance(item, Settled):
            settled.update(item.prefix + name for name in item.names)
        else:
            step = plan.decide(item, run.rules)
            decided[item.name] = (step.verdict, step.action, step.made)
    return decided, settled


CASES = [
    # (linked, style, checksum, what the settler settles)
    (True, "absolute", False, {"media/right.txt", "media/sub/deep.txt"}),
    (True, "relative", False, {"media/right.txt", "media/sub/deep.txt"}),
    (True, "hard", False, {"media/right.txt", "media/sub/deep.txt", "media/stale.txt"}),
    # Copies compare by size and mtime, as rsync's and collectstatic's do: a rename over
    # that keeps both is for --checksum to see (the plan says the same).
    (False, "absolute", False, {"media/right.txt", "media/sub/deep.txt", "media/renamed.txt"}),
    (False, "absolute", True, set()),  # --checksum: every copy's bytes are the plan's to compare
]


@pytest.mark.parametrize(("linked", "style", "checksum", "expected"), CASES)
def test_the_settler_settles_only_what_the_plan_calls_ok(tmp_path, linked, style, checksum, expected):
    source, mirror, media = site(tmp_path, linked=linked, style=style)
    options = engine.Options(link_style=style, checksum=checksum, delete=True)
    engine.collect([source], mirror, options)
    damage(tmp_path / "mirror" / "media", media, tmp_path / "outside")
    run = engine._Run([source], mirror, options)

    planned, _none = decisions(run, source, settle=False)
    decided, settled = decisions(run, source, settle=True)

    assert settled == expected
    ok = (Verdict.OK, Action.NONE, None)
    assert all(planned[name] == ok for name in settled)
    assert decided == {name: step for name, step in planned.items() if name not in settled}
    if linked and style != "hard":
        # The ctime stamp sees what an mtime would not: the rename over, and the stale link.
        assert planned["media/renamed.txt"][0] is Verdict.CHANGED_CONTENT
        assert planned["media/stale.txt"][0] is Verdict.CHANGED_CONTENT
    assert planned["media/orphan.txt"][0] is Verdict.ESCAPING_LINK
    assert planned["media/.hidden"][:2] == ok[:2]  # ignored: kept by the plan, never settled


def test_a_run_reports_settled_entries_in_name_order_among_the_rest(tmp_path):
    source, mirror, media = site(tmp_path, linked=True)
    engine.collect([source], mirror)
    (media / "missing.txt").write_text("changed")  # a changed-content step between settled names
    events: list = []

    report = engine.collect([source], mirror, engine.Options(list_unmodified=True), on_event=events.append)

    names = [event.name for event in events if event.name.startswith("media/") and "/sub/" not in event.name]
    assert names == sorted(names)
    assert ("media/missing.txt", "replaced") in [(e.name, str(e.action)) for e in events]
    assert report.totals["unmodified"] == 7  # the six others (.hidden is ignored) and sub/deep.txt
