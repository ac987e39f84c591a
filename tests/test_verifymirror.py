from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from symlinkmirror import engine
from symlinkmirror.report import Finding
from tests.conftest import manage_env
from tests.remote import SlowRemoteStorage

MANAGE = Path(__file__).resolve().parent.parent / "manage.py"


def verify(*args: str) -> tuple[list[str], str]:
    """Run verifymirror; return its stdout lines and stderr. Raises CommandError on findings."""
    out, err = io.StringIO(), io.StringIO()
    call_command("verifymirror", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


def verify_failing(*args: str) -> tuple[list[str], str, CommandError]:
    """Run verifymirror where it must find something; return stdout lines, stderr and the error."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("verifymirror", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue(), caught.value


def collect(**options) -> engine.Report:
    return engine.collect(engine.configured_sources(), engine.mirror_storage(), engine.Options(**options))


@pytest.fixture
def tree(settings, tmp_path, mirror_in_tmp_path):
    """media/a.txt, media/photos/b.jpg and static/site.css collected, and a secret outside every root."""
    (mirror_in_tmp_path.media / "a.txt").write_text("alpha")
    (mirror_in_tmp_path.media / "photos").mkdir()
    (mirror_in_tmp_path.media / "photos" / "b.jpg").write_bytes(b"bravo")
    (mirror_in_tmp_path.static / "site.css").write_text("body {}")
    collect()
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "passwd"
    secret.write_text("root:x:0:0")
    return SimpleNamespace(
        media=mirror_in_tmp_path.media,
        static=mirror_in_tmp_path.static,
        mirror=mirror_in_tmp_path.mirror,
        secret=secret,
        settings=settings,
    )


# One broken mirror per finding category (and variant), with what verifymirror must print.


@dataclass(frozen=True)
class Case:
    findings: list[Finding]  # in report order
    lines: list[str]  # the human output
    args: tuple[str, ...] = ()
    checked: int = 3


def one(category: str, source: str, name: str, detail: str, args: tuple[str, ...] = ()) -> Case:
    return Case(
        findings=[Finding(category, source, name, detail)],
        lines=[f"{category} (1):", f"  '{name}': {detail}", f"3 files checked: 1 finding (1 {category})."],
        args=args,
    )


def relink(path: Path, target) -> None:
    path.unlink()
    os.symlink(target, path)


def use_copies_for_media(t) -> None:
    """Leave media out of symlink_within, so its files are mirrored as copies."""
    t.settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(t.static)]
    collect()


def missing(t) -> Case:
    (t.mirror / "media" / "a.txt").unlink()
    return one("missing", "media", "media/a.txt", "the source file has no mirror entry")


def orphan(t) -> Case:
    (t.mirror / "media" / "old.txt").write_text("old")
    return one("orphan", "media", "media/old.txt", "no source file has this name")


def broken_link(t) -> Case:
    relink(t.mirror / "media" / "a.txt", t.media / "archive" / "a.txt")
    return one("broken-link", "media", "media/a.txt", "the link's target does not exist")


def wrong_target(t) -> Case:
    relink(t.mirror / "media" / "a.txt", t.media / "photos" / "b.jpg")
    return one("wrong-target", "media", "media/a.txt", "a link to something other than its source")


def escaping_link(t) -> Case:
    relink(t.mirror / "media" / "a.txt", t.secret)
    detail = f"a symlink to '{t.secret.resolve()}', outside every trusted root"
    return one("escaping-link", "media", "media/a.txt", detail)


def escaping_orphan_link(t) -> Case:
    (t.mirror / "static" / "passwd").symlink_to(t.secret)
    detail = f"a symlink to '{t.secret.resolve()}', outside every trusted root"
    return one("escaping-link", "static", "static/passwd", detail)


def escaping_directory_link(t) -> Case:
    shutil.rmtree(t.mirror / "media" / "photos")
    (t.mirror / "media" / "photos").symlink_to(t.secret.parent, target_is_directory=True)
    return Case(
        findings=[
            Finding("escaping-link", "media", "media/photos", "a symlinked directory leading outside the mirror"),
            Finding("missing", "media", "media/photos/b.jpg", "the source file has no mirror entry"),
        ],
        lines=[
            "escaping-link (1):",
            "  'media/photos': a symlinked directory leading outside the mirror",
            "missing (1):",
            "  'media/photos/b.jpg': the source file has no mirror entry",
            "3 files checked: 2 findings (1 escaping-link, 1 missing).",
        ],
    )


def kind_mismatch_copy(t) -> Case:
    entry = t.mirror / "media" / "a.txt"
    entry.unlink()
    entry.write_text("alpha")
    return one("kind-mismatch", "media", "media/a.txt", "a copy where a link belongs")


def kind_mismatch_link(t) -> Case:
    use_copies_for_media(t)
    relink(t.mirror / "media" / "a.txt", t.static / "site.css")
    return one("kind-mismatch", "media", "media/a.txt", "a link where a copy belongs")


def kind_mismatch_hard_style(t) -> Case:
    detail = "a symlink where a hard link belongs"
    names = ["media/a.txt", "media/photos/b.jpg", "static/site.css"]
    sources = ["media", "media", "static"]
    return Case(
        findings=[Finding("kind-mismatch", source, name, detail) for source, name in zip(sources, names, strict=True)],
        lines=[
            "kind-mismatch (3):",
            *(f"  '{name}': {detail}" for name in names),
            "3 files checked: 3 findings (3 kind-mismatch).",
        ],
        args=("--link-style", "hard"),
    )


def stale_copy_size(t) -> Case:
    use_copies_for_media(t)
    (t.media / "a.txt").write_text("alpha, grown")
    return one("stale-copy", "media", "media/a.txt", "the copy differs from its source")


def stale_copy_mtime(t) -> Case:
    use_copies_for_media(t)
    mtime_ns = (t.media / "a.txt").stat().st_mtime_ns - 60_000_000_000
    os.utime(t.media / "a.txt", ns=(mtime_ns, mtime_ns))
    return one("stale-copy", "media", "media/a.txt", "the copy differs from its source")


def stale_copy_checksum(t) -> Case:
    use_copies_for_media(t)
    entry = t.mirror / "media" / "a.txt"
    mtime_ns = entry.stat().st_mtime_ns
    entry.write_text("ALPHA")  # same size, and the same mtime below: only --checksum sees it
    os.utime(entry, ns=(mtime_ns, mtime_ns))
    return one("stale-copy", "media", "media/a.txt", "the copy differs from its source", args=("--checksum",))


def not_a_file_fifo(t) -> Case:
    (t.mirror / "media" / "a.txt").unlink()
    os.mkfifo(t.mirror / "media" / "a.txt")
    return one("not-a-file", "media", "media/a.txt", "not a regular file or a link")


def not_a_file_directory(t) -> Case:
    (t.mirror / "static" / "site.css").unlink()
    (t.mirror / "static" / "site.css").mkdir()
    (t.mirror / "static" / "site.css" / "inner.css").write_text("inner")
    return Case(
        findings=[
            Finding("orphan", "static", "static/site.css/inner.css", "no source file has this name"),
            Finding("not-a-file", "static", "static/site.css", "not a regular file or a link"),
        ],
        lines=[
            "not-a-file (1):",
            "  'static/site.css': not a regular file or a link",
            "orphan (1):",
            "  'static/site.css/inner.css': no source file has this name",
            "3 files checked: 2 findings (1 not-a-file, 1 orphan).",
        ],
    )


def not_a_file_where_a_directory_belongs(t) -> Case:
    shutil.rmtree(t.mirror / "media" / "photos")
    (t.mirror / "media" / "photos").write_text("not a directory")
    return Case(
        findings=[
            Finding("not-a-file", "media", "media/photos", "not a directory, where the source has one"),
            Finding("missing", "media", "media/photos/b.jpg", "the source file has no mirror entry"),
        ],
        lines=[
            "missing (1):",
            "  'media/photos/b.jpg': the source file has no mirror entry",
            "not-a-file (1):",
            "  'media/photos': not a directory, where the source has one",
            "3 files checked: 2 findings (1 missing, 1 not-a-file).",
        ],
    )


def temp_file(t) -> Case:
    writer = subprocess.Popen(["sleep", "60"])  # a collectmirror that was killed mid-copy
    writer.kill()
    writer.wait()
    name = f".symlinkmirror-tmp-{writer.pid}-5e3c0a"
    (t.mirror / "media" / "photos" / name).write_bytes(b"half a cop")
    return one("temp-file", "media", f"media/photos/{name}", "left by an interrupted run")


CASES = [
    missing,
    orphan,
    broken_link,
    wrong_target,
    escaping_link,
    escaping_orphan_link,
    escaping_directory_link,
    kind_mismatch_copy,
    kind_mismatch_link,
    kind_mismatch_hard_style,
    stale_copy_size,
    stale_copy_mtime,
    stale_copy_checksum,
    not_a_file_fifo,
    not_a_file_directory,
    not_a_file_where_a_directory_belongs,
    temp_file,
]
case_ids = [make.__name__ for make in CASES]


@pytest.mark.parametrize("make", CASES, ids=case_ids)
def test_each_finding_is_printed_by_category_and_fails_the_command(tree, make):
    case = make(tree)

    lines, _err, error = verify_failing(*case.args)

    assert lines == case.lines
    assert str(error) == f"The mirror has {len(case.findings)} finding(s)."
    assert error.returncode == 1


@pytest.mark.parametrize("make", CASES, ids=case_ids)
def test_each_finding_is_in_the_json_report(tree, make):
    case = make(tree)

    lines, _err, error = verify_failing("--json", *case.args)

    document = json.loads("\n".join(lines))
    assert document["clean"] is False
    assert document["checked"] == case.checked
    assert document["findings"] == [finding.as_dict() for finding in case.findings]
    assert document["counts"] == dict(Counter(finding.category for finding in case.findings))
    assert error.returncode == 1


@pytest.mark.parametrize("make", CASES, ids=case_ids)
def test_fix_repairs_each_finding_and_the_mirror_audits_clean_after(tree, make):
    case = make(tree)

    fixed, _err = verify("--fix", *case.args)
    after, _err = verify(*case.args)

    count = len(case.findings)
    findings = "finding" if count == 1 else "findings"
    changes, summary = fixed[:-2], fixed[-2:]
    assert changes  # --fix lists what it changed
    assert summary == [f"Fixed {count} of {count} {findings}.", f"{case.checked} files checked: the mirror is clean."]
    assert after == [f"{case.checked} files checked: the mirror is clean."]


def test_fix_keeps_the_secret_a_planted_link_pointed_to(tree):
    escaping_orphan_link(tree)
    escaping_link(tree)

    verify("--fix")

    assert not os.path.lexists(tree.mirror / "static" / "passwd")
    assert (tree.mirror / "media" / "a.txt").read_text() == "alpha"
    assert tree.secret.read_text() == "root:x:0:0"


# Exit status and output.


def test_clean_mirror_exits_normally_and_says_so(tree):
    lines, err = verify()

    assert lines == ["3 files checked: the mirror is clean."]
    assert err == ""


def test_fix_on_a_clean_mirror_changes_nothing(tree):
    before = os.readlink(tree.mirror / "media" / "a.txt")

    lines, _err = verify("--fix")

    assert lines == ["3 files checked: the mirror is clean."]
    assert os.readlink(tree.mirror / "media" / "a.txt") == before


def test_findings_are_grouped_in_report_order(tree):
    escaping_orphan_link(tree)
    orphan(tree)
    missing(tree)
    name = temp_file(tree).findings[0].name

    lines, _err, error = verify_failing()

    assert lines == [
        "escaping-link (1):",
        f"  'static/passwd': a symlink to '{tree.secret.resolve()}', outside every trusted root",
        "missing (1):",
        "  'media/a.txt': the source file has no mirror entry",
        "orphan (1):",
        "  'media/old.txt': no source file has this name",
        "temp-file (1):",
        f"  '{name}': left by an interrupted run",
        "3 files checked: 4 findings (1 escaping-link, 1 missing, 1 orphan, 1 temp-file).",
    ]
    assert error.returncode == 1


@pytest.fixture
def seven_missing(mirror_in_tmp_path):
    for n in range(7):
        (mirror_in_tmp_path.media / f"f{n}.txt").write_text(str(n))
    return mirror_in_tmp_path


def test_shows_five_examples_per_category_then_how_many_more(seven_missing):
    lines, _err, _error = verify_failing()

    assert lines == [
        "missing (7):",
        *(f"  'media/f{n}.txt': the source file has no mirror entry" for n in range(5)),
        "  ... and 2 more (use -v 2 to list all)",
        "7 files checked: 7 findings (7 missing).",
    ]


def test_verbosity_2_lists_every_finding_and_the_skipped_entries(seven_missing, tmp_path):
    (tmp_path / "elsewhere.txt").write_text("elsewhere")
    (seven_missing.media / "z.txt").symlink_to(tmp_path / "elsewhere.txt")

    lines, _err, _error = verify_failing("-v", "2")

    assert lines == [
        "missing (7):",
        *(f"  'media/f{n}.txt': the source file has no mirror entry" for n in range(7)),
        f"Skipped 'media/z.txt' (a symlink to '{(tmp_path / 'elsewhere.txt').resolve()}', outside the source root and every trusted root)",
        "7 files checked: 7 findings (7 missing).",
    ]


def test_verbosity_0_prints_nothing_but_still_fails(seven_missing):
    lines, err, error = verify_failing("-v", "0")

    assert lines == []
    assert err == ""
    assert error.returncode == 1


# --json


def test_json_is_one_full_document(tree):
    orphan(tree)
    (tree.media / "ignored~").write_text("backup")
    (tree.media / "ext.txt").symlink_to(tree.secret)

    lines, _err, error = verify_failing("--json")

    document = json.loads("\n".join(lines))
    assert set(document) == {"clean", "checked", "counts", "findings", "skipped", "duration"}
    assert document["clean"] is False
    assert document["checked"] == 3
    assert document["counts"] == {"orphan": 1}
    assert document["findings"] == [
        {"category": "orphan", "source": "media", "name": "media/old.txt", "detail": "no source file has this name"}
    ]
    assert document["skipped"] == [
        {
            "category": "escaping-link",
            "source": "media",
            "name": "media/ext.txt",
            "detail": f"a symlink to '{tree.secret.resolve()}', outside the source root and every trusted root",
        }
    ]
    assert error.returncode == 1


def test_json_names_entries_that_are_not_utf8_in_strict_utf8(tree):
    media = os.fsencode(tree.media)
    with open(media + b"/caf\xe9.txt", "wb") as latin1:
        latin1.write(b"Latin-1")
    outside = os.fsencode(tree.secret.parent.resolve()) + b"/s\xe9cret"
    with open(outside, "wb") as secret:
        secret.write(b"s")
    os.symlink(outside, media + b"/ext.txt")

    lines, _err, _error = verify_failing("--json")

    document = json.loads("\n".join(lines))
    json.dumps(document, ensure_ascii=False).encode("utf-8")  # strict: a lone surrogate would raise
    assert document["findings"] == [
        {
            "category": "missing",
            "source": "media",
            "name": "media/caf\\xe9.txt",
            "detail": "the source file has no mirror entry",
        }
    ]
    assert document["skipped"][0]["detail"] == (
        f"a symlink to '{tree.secret.parent.resolve()}/s\\xe9cret', outside the source root and every trusted root"
    )


def test_json_on_a_clean_mirror_exits_normally(tree):
    lines, _err = verify("--json")

    document = json.loads("\n".join(lines))
    assert document["clean"] is True
    assert document["counts"] == {}
    assert document["findings"] == []


def test_json_with_fix_reports_what_was_fixed(tree):
    missing(tree)
    orphan(tree)

    lines, _err = verify("--json", "--fix")

    document = json.loads("\n".join(lines))
    assert document["clean"] is True
    assert document["fixed"] == [
        {
            "category": "missing",
            "source": "media",
            "name": "media/a.txt",
            "detail": "the source file has no mirror entry",
        },
        {"category": "orphan", "source": "media", "name": "media/old.txt", "detail": "no source file has this name"},
    ]
    assert document["fix_errors"] == []


# --source


def test_source_limits_the_audit_to_that_source(tree):
    missing(tree)
    (tree.mirror / "static" / "site.css").unlink()

    lines, _err, _error = verify_failing("--source", "static")
    json_lines, _err, _error = verify_failing("--source", "static", "--json")

    assert lines == [
        "missing (1):",
        "  'static/site.css': the source file has no mirror entry",
        "1 file checked: 1 finding (1 missing).",
    ]
    assert [f["name"] for f in json.loads("\n".join(json_lines))["findings"]] == ["static/site.css"]


def test_fix_with_source_repairs_only_that_source(tree):
    missing(tree)
    (tree.mirror / "static" / "site.css").unlink()

    fixed, _err = verify("--source", "static", "--fix")
    lines, _err, _error = verify_failing()

    assert fixed == ["Linking 'static/site.css'", "Fixed 1 of 1 finding.", "1 file checked: the mirror is clean."]
    assert lines[:2] == ["missing (1):", "  'media/a.txt': the source file has no mirror entry"]


def test_unknown_source_is_a_command_error(tree):
    with pytest.raises(
        CommandError, match=r"^Unknown source 'nope' given to --source: SYMLINKMIRROR_SOURCES defines media, static\.$"
    ):
        verify("--source", "nope")


# What --fix cannot repair.


def test_fix_unlinks_a_symlinked_source_directory_without_writing_through_it(tree):
    missing(tree)
    shutil.rmtree(tree.mirror / "static")
    (tree.mirror / "static").symlink_to(tree.secret.parent, target_is_directory=True)

    lines, err = verify("--fix")

    assert lines == [
        "Linking 'media/a.txt'",
        "Deleting 'static' (in the way of a source directory)",
        "Linking 'static/site.css'",
        "Fixed 3 of 3 findings.",
        "3 files checked: the mirror is clean.",
    ]
    assert err == ""
    assert (tree.mirror / "static").is_dir() and not (tree.mirror / "static").is_symlink()
    assert os.listdir(tree.secret.parent) == ["passwd"]


def run_without_root_file_access(args: list[str], tree_root: Path) -> subprocess.CompletedProcess[str]:
    """Run manage.py where file permissions bind, even for root.

    As root, mode bits do not stop reading, and running as nobody is not an
    option (the virtualenv's interpreter may live under /root). setpriv drops
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH for the child instead, so a
    directory of mode 000 cannot be listed: a real "Permission denied".
    """
    prefix = []
    if os.geteuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    # testproject's defaults otherwise: link whatever is under MEDIA_ROOT and STATIC_ROOT.
    env = manage_env(
        MEDIA_ROOT=tree_root / "media", STATIC_ROOT=tree_root / "static", SYMLINKMIRROR_ROOT=tree_root / "mirror"
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [*prefix, sys.executable, str(MANAGE), *args], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def private_directory(tmp_path):
    """media/a.txt, static/site.css and media/private/ that nobody may list."""
    (tmp_path / "media" / "private").mkdir(parents=True)
    (tmp_path / "media" / "a.txt").write_text("alpha")
    (tmp_path / "media" / "private" / "key.pem").write_text("key")
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "site.css").write_text("body {}")
    os.chmod(tmp_path / "media" / "private", 0)
    yield tmp_path
    os.chmod(tmp_path / "media" / "private", 0o755)  # so tmp_path can be cleaned up


def test_unreadable_source_directory_is_reported_in_json(private_directory):
    result = run_without_root_file_access(["verifymirror", "--json"], private_directory)

    document = json.loads(result.stdout)
    assert result.returncode == 1
    assert document["counts"] == {"missing": 2, "unreadable": 1}
    assert document["findings"] == [
        {
            "category": "missing",
            "source": "media",
            "name": "media/a.txt",
            "detail": "the source file has no mirror entry",
        },
        {"category": "unreadable", "source": "media", "name": "media/private", "detail": "Permission denied"},
        {
            "category": "missing",
            "source": "static",
            "name": "static/site.css",
            "detail": "the source file has no mirror entry",
        },
    ]


def test_fix_cannot_repair_an_unreadable_source_directory_and_exits_non_zero(private_directory):
    result = run_without_root_file_access(["verifymirror", "--fix"], private_directory)

    assert result.stdout.splitlines() == [
        "Linking 'media/a.txt'",
        "Linking 'static/site.css'",
        "Fixed 2 of 3 findings.",
        "unreadable (1):",
        "  'media/private': Permission denied",
        "2 files checked: 1 finding (1 unreadable).",
    ]
    assert result.stderr.splitlines() == [
        "Failed 'media/private': Permission denied",
        "CommandError: The mirror has 1 finding(s).",
    ]
    assert result.returncode == 1
    assert (private_directory / "mirror" / "media" / "a.txt").is_symlink()


# Outside every source's prefix: what the site saves through the storage itself.


def test_an_escaping_link_outside_every_source_prefix_is_found_and_fixed(tree):
    (tree.mirror / "renditions").mkdir()
    os.symlink(tree.secret, tree.mirror / "renditions" / "leak.txt")

    lines, _err, error = verify_failing()
    fixed, _err = verify("--fix")

    assert lines == [
        "escaping-link (1):",
        f"  'renditions/leak.txt': a symlink to '{tree.secret}', outside every trusted root",
        "3 files checked: 1 finding (1 escaping-link).",
    ]
    assert error.returncode == 1
    assert fixed == [
        f"Deleting 'renditions/leak.txt' (a symlink to '{tree.secret}', outside every trusted root)",
        "Fixed 1 of 1 finding.",
        "3 files checked: the mirror is clean.",
    ]
    assert not os.path.lexists(tree.mirror / "renditions" / "leak.txt")
    assert tree.secret.read_text() == "root:x:0:0"


def test_links_and_copies_outside_every_source_prefix_are_not_orphans(tree):
    (tree.mirror / "renditions").mkdir()
    os.symlink(tree.media / "a.txt", tree.mirror / "renditions" / "a.txt")
    (tree.mirror / "renditions" / "a-watermarked.txt").write_text("alpha ©")

    lines, _err = verify()

    assert lines == ["3 files checked: the mirror is clean."]


def test_a_broken_link_outside_every_source_prefix_is_reported_and_left_to_the_site(tree):
    (tree.mirror / "renditions").mkdir()
    os.symlink(tree.media / "gone.jpg", tree.mirror / "renditions" / "gone.jpg")

    lines, _err, _error = verify_failing("--fix")

    assert lines == [
        "Fixed 0 of 1 finding.",
        "broken-link (1):",
        "  'renditions/gone.jpg': the link's target does not exist",
        "3 files checked: 1 finding (1 broken-link).",
    ]
    assert os.path.islink(tree.mirror / "renditions" / "gone.jpg")


def test_unmanaged_findings_carry_their_own_source_name_in_json(tree):
    os.symlink(tree.secret, tree.mirror / "top.txt")
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("verifymirror", "--json", stdout=out, stderr=io.StringIO())

    assert json.loads(out.getvalue())["findings"] == [
        {
            "category": "escaping-link",
            "source": "(unmanaged)",
            "name": "top.txt",
            "detail": f"a symlink to '{tree.secret}', outside every trusted root",
        }
    ]


def test_fix_while_another_run_holds_the_lock_exits_75(tree):
    (tree.mirror / "media" / "a.txt").unlink()

    with engine.mirror_lock(str(tree.mirror)), pytest.raises(CommandError, match="is locked by") as caught:
        call_command("verifymirror", "--fix", stdout=io.StringIO(), stderr=io.StringIO())

    assert caught.value.returncode == 75


# --checksum compares in threads.


@pytest.fixture
def slow_remote(settings, mirror_in_tmp_path):
    """Six files of a remote source whose every download takes 50 ms, collected as copies."""
    files = {f"f{index}.txt": f"file {index}" for index in range(6)}
    settings.STORAGES = {
        **settings.STORAGES,
        "remote": {"BACKEND": "tests.remote.SlowRemoteStorage", "OPTIONS": {"files": files}},
    }
    settings.SYMLINKMIRROR_SOURCES = {"remote": {"storage": "remote", "prefix": "remote"}}
    collect()
    SlowRemoteStorage.threads.clear()
    return mirror_in_tmp_path


def test_checksum_with_workers_compares_in_several_threads(slow_remote):
    lines, _err = verify("--checksum", "--workers", "3")

    assert len(SlowRemoteStorage.threads) > 1
    assert lines[-1] == "6 files checked: the mirror is clean."


def test_checksum_compares_in_one_thread_by_default(slow_remote):
    verify("--checksum")

    assert len(SlowRemoteStorage.threads) == 1


def test_checksum_in_threads_reports_findings_in_name_order(slow_remote):
    for index in (4, 1):
        entry = slow_remote.mirror / "remote" / f"f{index}.txt"
        mtime_ns = entry.stat().st_mtime_ns
        entry.write_text(f"FILE {index}")
        os.utime(entry, ns=(mtime_ns, mtime_ns))

    lines, _err, _error = verify_failing("--checksum", "--workers", "3", "-v", "2")

    assert lines[:3] == [
        "stale-copy (2):",
        "  'remote/f1.txt': the copy differs from its source",
        "  'remote/f4.txt': the copy differs from its source",
    ]


def test_workers_must_be_positive(slow_remote):
    with pytest.raises(CommandError, match=r"^--workers must be 1 or more\.$"):
        verify("--workers", "0")
