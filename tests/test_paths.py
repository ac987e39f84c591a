from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.core.files import File

from symlinkmirror.paths import (
    TEMP_PREFIX,
    containing_root,
    is_temp_name,
    is_within,
    link_target,
    resolve_roots,
    split_roots,
    temp_name,
    temp_owner_alive,
)
from symlinkmirror.storage import SymlinkOrCopyStorage


def make_file(path: Path, data: bytes = b"original") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def save_opened(storage: SymlinkOrCopyStorage, name: str, path: Path) -> str:
    with path.open("rb") as fh:
        return storage.save(name, File(fh))


def real(path: Path | str) -> str:
    return os.path.realpath(path)


def test_is_within_accepts_the_root_itself_and_paths_below_it():
    assert is_within("/x/media", "/x/media")
    assert is_within("/x/media/a", "/x/media")
    assert is_within("/x/media/sub/dir/a.txt", "/x/media")


def test_is_within_rejects_a_sibling_sharing_a_prefix():
    assert not is_within("/x/media2/a", "/x/media")
    assert not is_within("/x/media2", "/x/media")
    assert not is_within("/x/medi", "/x/media")


def test_is_within_rejects_a_parent_and_a_relative_path():
    assert not is_within("/x", "/x/media")
    assert not is_within("media/a", "/x/media")


def test_containing_root_returns_the_first_matching_root():
    roots = ("/x/media", "/x/media/sub", "/x/static")

    assert containing_root("/x/media/sub/a.txt", roots) == "/x/media"
    assert containing_root("/x/static/a.css", roots) == "/x/static"
    assert containing_root("/x/media2/a.txt", roots) is None


def test_storage_does_not_link_a_file_in_a_sibling_with_a_common_prefix(tmp_path):
    make_file(tmp_path / "media" / "keep.txt")
    sibling = make_file(tmp_path / "media2" / "a.txt", b"sibling")
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[tmp_path / "media"])

    name = save_opened(storage, "a.txt", sibling)

    assert name == "a.txt"
    assert storage.entry_kind(name) == "copy"
    assert (tmp_path / "mirror" / "a.txt").read_bytes() == b"sibling"


def test_resolve_roots_strips_trailing_slashes(tmp_path):
    (tmp_path / "media").mkdir()

    roots = resolve_roots([f"{tmp_path / 'media'}/", f"{tmp_path / 'media'}//"])

    assert roots == (real(tmp_path / "media"),)


def test_storage_links_under_a_root_given_with_a_trailing_slash(tmp_path):
    original = make_file(tmp_path / "media" / "a.txt")
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[f"{tmp_path / 'media'}/"])

    name = save_opened(storage, "a.txt", original)

    assert storage.link_target(name) == real(original)


def test_resolve_roots_resolves_a_root_that_is_itself_a_symlink(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media-link").symlink_to(tmp_path / "media")

    roots = resolve_roots([tmp_path / "media-link"])

    assert roots == (real(tmp_path / "media"),)
    assert containing_root(real(tmp_path / "media-link" / "a.txt"), roots) == real(tmp_path / "media")


def test_storage_links_files_under_a_symlinked_root(tmp_path):
    original = make_file(tmp_path / "media" / "a.txt")
    (tmp_path / "media-link").symlink_to(tmp_path / "media")
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[tmp_path / "media-link"])

    via_link = save_opened(storage, "via-link.txt", tmp_path / "media-link" / "a.txt")
    via_real = save_opened(storage, "via-real.txt", original)

    assert storage.link_target(via_link) == real(original)
    assert storage.link_target(via_real) == real(original)


def test_resolve_roots_drops_repeats_and_keeps_overlapping_roots_in_order(tmp_path):
    (tmp_path / "media" / "sub").mkdir(parents=True)
    (tmp_path / "media-link").symlink_to(tmp_path / "media")

    roots = resolve_roots(
        [tmp_path / "media", f"{tmp_path / 'media'}/", tmp_path / "media-link", tmp_path / "media" / "sub"]
    )

    assert roots == (real(tmp_path / "media"), real(tmp_path / "media" / "sub"))


def test_storage_with_overlapping_and_repeated_roots_makes_one_link(tmp_path):
    original = make_file(tmp_path / "media" / "sub" / "a.txt")
    storage = SymlinkOrCopyStorage(
        location=tmp_path / "mirror",
        symlink_within=[tmp_path / "media", tmp_path / "media", tmp_path / "media" / "sub"],
    )

    name = save_opened(storage, "a.txt", original)

    assert name == "a.txt"
    assert os.listdir(tmp_path / "mirror") == ["a.txt"]
    assert storage.link_target(name) == real(original)


def test_resolve_roots_resolves_relative_roots_against_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "media").mkdir()
    monkeypatch.chdir(tmp_path)

    roots = resolve_roots(["media", "./media/../media"])

    assert roots == (real(tmp_path / "media"),)


def test_storage_links_under_a_relative_root(tmp_path, monkeypatch):
    original = make_file(tmp_path / "media" / "a.txt")
    monkeypatch.chdir(tmp_path)
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=["media"])

    name = save_opened(storage, "a.txt", original)

    assert storage.symlink_within == (real(tmp_path / "media"),)
    assert storage.link_target(name) == real(original)


def test_split_roots_accepts_a_list_of_strings_and_paths():
    assert split_roots(["/a", Path("/b"), "", "c"]) == ["/a", "/b", "c"]


def test_split_roots_splits_an_os_pathsep_string_and_drops_empty_parts():
    value = os.pathsep.join(["/a", "", "/b/c", ""])

    assert split_roots(value) == ["/a", "/b/c"]


def test_split_roots_treats_one_path_as_one_root():
    assert split_roots("/srv/media") == ["/srv/media"]
    assert split_roots(Path("/srv/media")) == ["/srv/media"]


def test_split_roots_of_none_or_an_empty_string_is_empty():
    assert split_roots(None) == []
    assert split_roots("") == []


def test_link_target_absolute_and_hard_return_the_real_source():
    assert link_target("/x/media/a.txt", "/y/mirror/media/a.txt", "absolute") == "/x/media/a.txt"
    assert link_target("/x/media/a.txt", "/y/mirror/media/a.txt", "hard") == "/x/media/a.txt"


def test_link_target_relative_is_computed_from_the_links_directory(tmp_path):
    original = make_file(tmp_path / "media" / "photos" / "a.txt")
    (tmp_path / "mirror" / "media" / "photos").mkdir(parents=True)

    target = link_target(real(original), str(tmp_path / "mirror" / "media" / "photos" / "a.txt"), "relative")

    assert target == "../../../media/photos/a.txt"


def test_link_target_relative_uses_the_real_directory_of_the_link(tmp_path):
    original = make_file(tmp_path / "media" / "a.txt")
    (tmp_path / "deep" / "mirror").mkdir(parents=True)
    (tmp_path / "mirror-link").symlink_to(tmp_path / "deep" / "mirror")
    link_path = tmp_path / "mirror-link" / "a.txt"

    target = link_target(real(original), str(link_path), "relative")
    os.symlink(target, link_path)

    assert target == "../../media/a.txt"
    assert link_path.read_bytes() == b"original"


def test_temp_name_lies_in_the_directory_and_carries_our_pid(tmp_path):
    first = temp_name(str(tmp_path))
    second = temp_name(str(tmp_path))

    assert os.path.dirname(first) == str(tmp_path)
    assert os.path.basename(first).startswith(f"{TEMP_PREFIX}{os.getpid()}-")
    assert len(os.path.basename(first)) == len(f"{TEMP_PREFIX}{os.getpid()}-") + 12
    assert first != second


def test_is_temp_name_recognises_temporary_names_only(tmp_path):
    assert is_temp_name(temp_name(str(tmp_path)))
    assert is_temp_name("media/photos/.symlinkmirror-tmp-123-abcdef")
    assert not is_temp_name("media/photos/a.txt")
    assert not is_temp_name("media/.symlinkmirror-tmp-dir/a.txt")
    assert not is_temp_name("symlinkmirror-tmp-123-abcdef")


def test_temp_owner_alive_for_our_own_pid(tmp_path):
    assert temp_owner_alive(temp_name(str(tmp_path)))


def test_temp_owner_alive_is_false_for_a_dead_pid(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid no longer exists

    assert not temp_owner_alive(str(tmp_path / f"{TEMP_PREFIX}{child.pid}-abcdef012345"))


def test_temp_owner_alive_for_a_running_child(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        alive = temp_owner_alive(str(tmp_path / f"{TEMP_PREFIX}{child.pid}-abcdef012345"))
    finally:
        child.kill()
        child.wait()

    assert alive


def test_temp_owner_alive_is_false_without_a_pid():
    assert not temp_owner_alive(f"{TEMP_PREFIX}notapid-abcdef012345")
    assert not temp_owner_alive(f"{TEMP_PREFIX}")
