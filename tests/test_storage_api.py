"""The storage as a FileSystemStorage drop-in: pathlib names, overwriting, bounded saves, its small API."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import django
import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage

from symlinkmirror.storage import EntryKind, SymlinkOrCopyStorage
from tests.test_storage import temp_files, within_seconds


@pytest.fixture
def storage(tmp_path, media) -> SymlinkOrCopyStorage:
    return SymlinkOrCopyStorage(location=tmp_path / "mirror", base_url="/m/", symlink_within=[media])


def test_pathlib_names_work_across_the_api_as_in_file_system_storage(storage, tmp_path, media):
    plain = FileSystemStorage(location=tmp_path / "plain", base_url="/m/")
    original = media / "a.txt"
    original.write_bytes(b"hello")
    results = {}

    for backend in (storage, plain):
        with original.open("rb") as fh:
            name = backend.save(Path("photos/a.txt"), File(fh))
        results[backend] = (
            name,
            backend.exists(Path(name)),
            backend.listdir(Path(".")),
            backend.listdir(Path("photos")),
            backend.size(Path(name)),
            backend.url(Path(name)),
            os.path.relpath(backend.path(Path(name)), backend.location),
            backend.open(Path(name)).read(),
            backend.get_modified_time(Path(name)) is not None,
        )

    assert (
        results[storage]
        == results[plain]
        == (
            "photos/a.txt",
            True,
            (["photos"], []),
            ([], ["a.txt"]),
            5,
            "/m/photos/a.txt",
            "photos/a.txt",
            b"hello",
            True,
        )
    )
    assert storage.entry_kind(Path("photos/a.txt")) is EntryKind.SYMLINK
    assert storage.link_target(Path("photos/a.txt")) == os.path.realpath(original)
    storage.delete(Path("photos/a.txt"))
    assert not storage.exists(Path("photos/a.txt"))
    assert original.read_bytes() == b"hello"


def test_put_needs_exactly_one_of_a_source_or_content(storage, media):
    original = media / "a.txt"
    original.write_bytes(b"hello")

    with pytest.raises(ValueError, match=r"^put\(\) needs exactly one of real_source or content\.$"):
        storage.put("none.txt")
    with pytest.raises(ValueError, match=r"^put\(\) needs exactly one of real_source or content\.$"):
        storage.put("both.txt", real_source=os.path.realpath(original), content=ContentFile(b"x"))

    assert not storage.exists("none.txt")
    assert not storage.exists("both.txt")


def test_entry_kind_tells_a_hard_link_from_a_copy(tmp_path, media):
    original = media / "a.txt"
    original.write_bytes(b"hello")
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[media], link_style="hard")

    hard = storage.put("hard.txt", real_source=os.path.realpath(original))
    copy = storage.put("copy.txt", content=ContentFile(b"hello"))

    assert (hard, copy) == (EntryKind.HARDLINK, EntryKind.COPY)
    assert storage.entry_kind("hard.txt") is EntryKind.HARDLINK
    assert storage.entry_kind("copy.txt") is EntryKind.COPY


def test_names_that_cannot_exist_are_missing_in_every_query(storage):
    storage.save("file", ContentFile(b"a file"))
    too_long = "x" * 300

    for name in ("file/child", too_long, f"dir/{too_long}", "missing"):
        assert storage.entry_kind(name) is EntryKind.MISSING, name
        assert storage.link_target(name) is None, name
        assert storage.exists(name) is False, name

    assert storage.link_target("file") is None  # a regular file: not a link


def test_a_link_to_itself_is_a_symlink_and_names_below_it_are_missing(storage, tmp_path):
    loop = tmp_path / "mirror" / "loop"
    storage.save("keep.txt", ContentFile(b"x"))
    os.symlink("loop", loop)  # a link to itself: following it loops

    assert storage.link_target("loop") == "loop"  # readlink does not follow
    assert storage.entry_kind("loop") is EntryKind.SYMLINK
    assert storage.entry_kind("loop/child") is EntryKind.MISSING


class SameNameStorage(SymlinkOrCopyStorage):
    """A get_available_name() that answers the taken name itself."""

    def get_available_name(self, name, max_length=None):
        return name


def test_save_never_spins_on_a_get_available_name_that_returns_the_taken_name(tmp_path):
    storage = SameNameStorage(location=tmp_path / "mirror", symlink_within=[])
    storage.save("a.txt", ContentFile(b"first"))

    with within_seconds(10), pytest.raises(FileExistsError) as excinfo:
        storage.save("a.txt", ContentFile(b"second"))

    assert excinfo.value.strerror == (
        "Cannot find a free name for 'a.txt': get_available_name() returned 'a.txt', which is taken. "
        "Pass allow_overwrite=True to replace it, or return a new name."
    )
    assert (tmp_path / "mirror" / "a.txt").read_bytes() == b"first"
    assert temp_files(tmp_path / "mirror") == []


def test_save_stops_after_a_bounded_number_of_other_names(tmp_path):
    class Counting(SymlinkOrCopyStorage):
        def get_available_name(self, name, max_length=None):
            self.calls = getattr(self, "calls", 0) + 1
            return "a.txt" if self.calls % 2 else "b.txt"  # alternates between two taken names

    storage = Counting(location=tmp_path / "mirror", symlink_within=[])
    storage.save("a.txt", ContentFile(b"a"))
    storage.save("b.txt", ContentFile(b"b"))
    storage.calls = 0

    with within_seconds(10), pytest.raises(FileExistsError):
        storage.save("a.txt", ContentFile(b"third"))

    assert storage.calls <= 3


def overwrite_recipe(base):
    """The classic overwrite storage: OS_OPEN_FLAGS without O_EXCL, and the name it is given."""

    class OverwriteStorage(base):
        OS_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)

        def get_available_name(self, name, max_length=None):
            return name

    return OverwriteStorage


def test_the_overwrite_recipe_behaves_as_in_file_system_storage(tmp_path):
    OverwriteStorage = overwrite_recipe(SymlinkOrCopyStorage)

    if django.VERSION < (6,):
        # Django 5.2 still honours OS_OPEN_FLAGS: masking out O_EXCL overwrites, with its own warning.
        from django.utils.deprecation import RemovedInDjango60Warning

        with pytest.warns(RemovedInDjango60Warning, match="Overriding OS_OPEN_FLAGS is deprecated") as record:
            storage = OverwriteStorage(location=tmp_path / "mirror", symlink_within=[])
        # Once, naming the code that built the storage, as Django's own warning does.
        assert [warning.filename for warning in record] == [__file__]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RemovedInDjango60Warning)
            plain = overwrite_recipe(FileSystemStorage)(location=tmp_path / "plain")
        for backend in (storage, plain):
            backend.save("a.txt", ContentFile(b"first version"))
            with within_seconds(10):
                name = backend.save("a.txt", ContentFile(b"second"))
            assert name == "a.txt"
            assert backend.open("a.txt").read() == b"second"
        assert sorted(os.listdir(tmp_path / "mirror")) == ["a.txt"]
    else:
        # Django 6 removed OS_OPEN_FLAGS and ignores it: the name stays taken, and save() says so
        # instead of spinning (FileSystemStorage itself would loop forever here).
        storage = OverwriteStorage(location=tmp_path / "mirror", symlink_within=[])
        storage.save("a.txt", ContentFile(b"first version"))
        with within_seconds(10), pytest.raises(FileExistsError, match="get_available_name"):
            storage.save("a.txt", ContentFile(b"second"))
        assert (tmp_path / "mirror" / "a.txt").read_bytes() == b"first version"
    assert temp_files(tmp_path / "mirror") == []


def test_allow_overwrite_replaces_a_link_with_a_copy_atomically(tmp_path, media):
    original = media / "a.txt"
    original.write_bytes(b"original")
    storage = SymlinkOrCopyStorage(location=tmp_path / "mirror", symlink_within=[media], allow_overwrite=True)
    with original.open("rb") as fh:
        storage.save("a.txt", File(fh))

    name = storage.save("a.txt", ContentFile(b"watermarked"))

    assert name == "a.txt"
    assert storage.entry_kind("a.txt") is EntryKind.COPY
    assert (tmp_path / "mirror" / "a.txt").read_bytes() == b"watermarked"
    assert original.read_bytes() == b"original"
