from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import TemporaryUploadedFile

from symlinkmirror.paths import TEMP_PREFIX
from symlinkmirror.storage import SymlinkOrCopyStorage

SBIN_PATH = f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin{os.pathsep}/sbin"
ALTERNATIVE_NAME = re.compile(r"^a_[a-zA-Z0-9]{7}\.txt$")


def make_file(path: Path, data: bytes = b"original bytes") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def save_opened(storage: SymlinkOrCopyStorage, name: str, path: Path) -> str:
    with path.open("rb") as fh:
        return storage.save(name, File(fh))


def temp_files(root: Path) -> list[str]:
    return sorted(
        os.path.join(directory, name)
        for directory, dirs, files in os.walk(root)
        for name in dirs + files
        if name.startswith(TEMP_PREFIX)
    )


def run(*command: str | Path) -> subprocess.CompletedProcess:
    args = [str(part) for part in command]
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PATH": SBIN_PATH})
    assert result.returncode == 0, f"'{' '.join(args)}' failed: {result.stderr.strip()}"
    return result


@contextlib.contextmanager
def within_seconds(seconds: int):
    """Turn a hang into a failure."""

    def fail(signum, frame):
        raise TimeoutError(f"Still running after {seconds} seconds.")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def mirror(tmp_path) -> Path:
    return tmp_path / "mirror"


@pytest.fixture
def storage(media, mirror) -> SymlinkOrCopyStorage:
    return SymlinkOrCopyStorage(location=mirror, base_url="/m/", symlink_within=[media])


@pytest.fixture
def tmpfs(tmp_path):
    """A real tmpfs: a second filesystem, so hard links to tmp_path fail with EXDEV."""
    mountpoint = tmp_path / "tmpfs"
    mountpoint.mkdir()
    run("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mountpoint)
    yield mountpoint
    run("umount", mountpoint)


# Linking and copying.


def test_save_links_a_file_opened_inside_a_root(storage, media, mirror):
    original = make_file(media / "photos" / "a.txt")

    name = save_opened(storage, "photos/a.txt", original)

    assert name == "photos/a.txt"
    assert os.path.islink(mirror / "photos" / "a.txt")
    assert os.path.realpath(mirror / "photos" / "a.txt") == os.path.realpath(original)
    assert (mirror / "photos" / "a.txt").read_bytes() == b"original bytes"


def test_save_copies_a_file_opened_outside_every_root(storage, tmp_path, mirror):
    outside = make_file(tmp_path / "outside" / "a.txt", b"outside bytes")

    name = save_opened(storage, "a.txt", outside)

    assert name == "a.txt"
    assert storage.entry_kind(name) == "copy"
    assert (mirror / "a.txt").read_bytes() == b"outside bytes"
    assert os.stat(mirror / "a.txt").st_ino != os.stat(outside).st_ino


def test_save_copies_a_content_file(storage, mirror):
    name = storage.save("a.bin", ContentFile(b"\x00\x01content"))
    text_name = storage.save("b.txt", ContentFile("h\u00e9llo text"))

    assert storage.entry_kind(name) == "copy"
    assert (mirror / "a.bin").read_bytes() == b"\x00\x01content"
    assert storage.entry_kind(text_name) == "copy"
    assert (mirror / "b.txt").read_text() == "h\u00e9llo text"


def test_save_copies_in_memory_content(storage, mirror):
    name = storage.save("a.txt", File(io.BytesIO(b"in memory"), name="a.txt"))

    assert storage.entry_kind(name) == "copy"
    assert (mirror / "a.txt").read_bytes() == b"in memory"


def test_save_copies_content_whose_name_lies_about_its_file(storage, tmp_path, media, mirror):
    make_file(media / "a.txt", b"the named original")
    other = make_file(tmp_path / "outside" / "other.txt", b"the real content")
    with other.open("rb") as fh:
        content = File(fh)
        content.name = str(media / "a.txt")

        name = storage.save("a.txt", content)

    assert storage.entry_kind(name) == "copy"
    assert (mirror / "a.txt").read_bytes() == b"the real content"
    assert (media / "a.txt").read_bytes() == b"the named original"


def test_save_copies_in_memory_content_named_after_a_file_inside_a_root(storage, media, mirror):
    make_file(media / "a.txt", b"the named original")

    name = storage.save("a.txt", File(io.BytesIO(b"in memory"), name=str(media / "a.txt")))

    assert storage.entry_kind(name) == "copy"
    assert (mirror / "a.txt").read_bytes() == b"in memory"


# Link styles.


def test_absolute_links_contain_the_real_path_of_the_original(media, mirror):
    original = make_file(media / "photos" / "a.txt")
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], link_style="absolute")

    name = save_opened(storage, "photos/a.txt", original)

    assert os.readlink(mirror / "photos" / "a.txt") == os.path.realpath(original)
    assert storage.link_target(name) == os.path.realpath(original)


def test_relative_links_survive_moving_the_whole_tree(tmp_path):
    site = tmp_path / "site"
    original = make_file(site / "media" / "photos" / "a.txt", b"moved along")
    storage = SymlinkOrCopyStorage(location=site / "mirror", symlink_within=[site / "media"], link_style="relative")
    save_opened(storage, "photos/a.txt", original)

    os.rename(site, tmp_path / "moved")

    moved_link = tmp_path / "moved" / "mirror" / "photos" / "a.txt"
    assert os.readlink(moved_link) == "../../media/photos/a.txt"
    assert not site.exists()
    assert os.path.realpath(moved_link) == os.path.realpath(tmp_path / "moved" / "media" / "photos" / "a.txt")
    assert moved_link.read_bytes() == b"moved along"


def test_hard_links_share_the_originals_inode(media, mirror):
    original = make_file(media / "a.txt")
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], link_style="hard")

    name = save_opened(storage, "a.txt", original)

    assert not os.path.islink(mirror / "a.txt")
    assert os.stat(mirror / "a.txt").st_ino == os.stat(original).st_ino
    assert os.stat(original).st_nlink == 2
    assert storage.entry_kind(name) == "hardlink"
    assert storage.link_target(name) is None


def test_hard_links_across_filesystems_fall_back_to_a_copy(media, tmpfs):
    original = make_file(media / "a.txt", b"across filesystems")
    storage = SymlinkOrCopyStorage(location=tmpfs / "mirror", symlink_within=[media], link_style="hard")

    name = save_opened(storage, "a.txt", original)

    entry = tmpfs / "mirror" / "a.txt"
    assert name == "a.txt"
    assert storage.entry_kind(name) == "copy"
    assert os.stat(entry).st_dev != os.stat(original).st_dev
    assert os.stat(original).st_nlink == 1
    assert entry.read_bytes() == b"across filesystems"
    assert temp_files(tmpfs) == []


def test_bad_link_style_raises_improperly_configured(mirror):
    with pytest.raises(ImproperlyConfigured) as excinfo:
        SymlinkOrCopyStorage(location=mirror, link_style="bogus")

    assert str(excinfo.value) == "SymlinkOrCopyStorage link_style must be one of absolute, relative, hard, not 'bogus'."


def test_a_storage_refused_in_init_still_answers_a_setting_change(mirror, settings, tmp_path):
    # The traceback keeps the half-built storage alive, connected to setting_changed by
    # Django's __init__: a later setting change must not fail on it.
    with pytest.raises(ImproperlyConfigured) as excinfo:
        SymlinkOrCopyStorage(location=mirror, link_style="bogus")
    half_built = excinfo.traceback[-1].frame.f_locals["self"]

    settings.MEDIA_ROOT = str(tmp_path / "elsewhere")

    assert half_built.supports_symlinks is True  # probed again for the new root, without error


# Names that are taken.


def test_save_gives_an_alternative_name_when_the_name_is_taken(storage, mirror):
    storage.save("a.txt", ContentFile(b"first"))

    name = storage.save("a.txt", ContentFile(b"second"))

    assert ALTERNATIVE_NAME.match(name)
    assert (mirror / "a.txt").read_bytes() == b"first"
    assert (mirror / name).read_bytes() == b"second"


def test_save_gives_an_alternative_name_to_a_second_link(storage, media, mirror):
    original = make_file(media / "a.txt")
    save_opened(storage, "a.txt", original)

    name = save_opened(storage, "a.txt", original)

    assert ALTERNATIVE_NAME.match(name)
    assert storage.link_target("a.txt") == os.path.realpath(original)
    assert storage.link_target(name) == os.path.realpath(original)


def test_a_dangling_symlink_occupies_its_name(storage, tmp_path, mirror):
    mirror.mkdir()
    os.symlink(tmp_path / "nowhere", mirror / "a.txt")

    name = storage.save("a.txt", ContentFile(b"new"))

    assert ALTERNATIVE_NAME.match(name)
    assert os.readlink(mirror / "a.txt") == str(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()
    assert (mirror / name).read_bytes() == b"new"


def test_allow_overwrite_replaces_the_entry_under_the_same_name(media, mirror):
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], allow_overwrite=True)
    storage.save("a.txt", ContentFile(b"old content"))
    with (mirror / "a.txt").open("rb") as reader:
        name = storage.save("a.txt", ContentFile(b"new content"))

        still_open = reader.read()

    assert name == "a.txt"
    assert (mirror / "a.txt").read_bytes() == b"new content"
    assert still_open == b"old content"  # a rename, not a truncate-and-write
    assert os.listdir(mirror) == ["a.txt"]


def test_allow_overwrite_replaces_a_link_without_writing_through_it(media, mirror):
    original = make_file(media / "a.txt", b"original")
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], allow_overwrite=True)
    save_opened(storage, "a.txt", original)

    name = storage.save("a.txt", ContentFile(b"processed"))

    assert name == "a.txt"
    assert storage.entry_kind(name) == "copy"
    assert (mirror / "a.txt").read_bytes() == b"processed"
    assert original.read_bytes() == b"original"


def test_allow_overwrite_replaces_a_copy_with_a_link(media, mirror):
    original = make_file(media / "a.txt", b"original")
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], allow_overwrite=True)
    storage.save("a.txt", ContentFile(b"stale copy"))

    name = save_opened(storage, "a.txt", original)

    assert name == "a.txt"
    assert storage.link_target(name) == os.path.realpath(original)
    assert temp_files(mirror) == []


def test_a_file_where_a_directory_should_be_raises_file_exists_error(storage, mirror):
    storage.save("a.txt", ContentFile(b"a file"))

    with within_seconds(10), pytest.raises(FileExistsError) as excinfo:  # it once looped for new names forever
        storage.save("a.txt/b.txt", ContentFile(b"nested"))

    assert str(excinfo.value) == f"{mirror / 'a.txt'} exists and is not a directory."
    assert (mirror / "a.txt").read_bytes() == b"a file"
    assert temp_files(mirror) == []


def test_put_without_replace_refuses_a_taken_name(storage, media, mirror):
    original = make_file(media / "a.txt")
    storage.save("a.txt", ContentFile(b"taken"))

    with pytest.raises(FileExistsError):
        storage.put("a.txt", real_source=os.path.realpath(original), replace=False)
    with pytest.raises(FileExistsError):
        storage.put("a.txt", content=ContentFile(b"other"), replace=False)

    assert (mirror / "a.txt").read_bytes() == b"taken"
    assert temp_files(mirror) == []


def test_put_reports_what_it_made_and_stamps_copies(storage, media, mirror):
    original = make_file(media / "a.txt")

    linked = storage.put("linked.txt", real_source=os.path.realpath(original))
    copied = storage.put("copied.txt", content=ContentFile(b"copy"), mtime_ns=1_600_000_000_000_000_000)
    hard = storage.put("hard.txt", real_source=os.path.realpath(original), link_style="hard")

    assert (linked, copied, hard) == ("symlink", "copy", "hardlink")
    assert os.stat(mirror / "copied.txt").st_mtime_ns == 1_600_000_000_000_000_000
    assert os.stat(mirror / "hard.txt").st_ino == os.stat(original).st_ino


# Deleting.


def test_delete_of_a_link_leaves_the_original(storage, media, mirror):
    original = make_file(media / "a.txt", b"keep me")
    name = save_opened(storage, "a.txt", original)

    storage.delete(name)

    assert not os.path.lexists(mirror / "a.txt")
    assert original.read_bytes() == b"keep me"


def test_delete_of_a_hard_link_leaves_the_original(media, mirror):
    original = make_file(media / "a.txt", b"keep me")
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], link_style="hard")
    name = save_opened(storage, "a.txt", original)

    storage.delete(name)

    assert not os.path.lexists(mirror / "a.txt")
    assert original.read_bytes() == b"keep me"
    assert os.stat(original).st_nlink == 1


def test_delete_removes_a_dangling_link_a_copy_and_ignores_a_missing_name(storage, tmp_path, mirror):
    storage.save("copy.txt", ContentFile(b"copy"))
    os.symlink(tmp_path / "nowhere", mirror / "dangling.txt")

    storage.delete("copy.txt")
    storage.delete("dangling.txt")
    storage.delete("missing.txt")

    assert os.listdir(mirror) == []


def test_delete_refuses_to_delete_through_a_symlinked_directory(storage, tmp_path, mirror):
    outside = make_file(tmp_path / "outside" / "a.txt", b"outside")
    mirror.mkdir()
    os.symlink(tmp_path / "outside", mirror / "escape")

    with pytest.raises(SuspiciousFileOperation) as excinfo:
        storage.delete("escape/a.txt")

    assert str(excinfo.value) == (
        f"The directory '{mirror / 'escape'}' resolves outside the storage location '{mirror}'; "
        "refusing to write through it."
    )
    assert outside.read_bytes() == b"outside"


def test_delete_unlinks_a_symlinked_directory_itself(storage, tmp_path, mirror):
    outside = make_file(tmp_path / "outside" / "a.txt", b"outside")
    mirror.mkdir()
    os.symlink(tmp_path / "outside", mirror / "escape")

    storage.delete("escape")

    assert os.listdir(mirror) == []
    assert outside.read_bytes() == b"outside"


def test_delete_without_a_name_raises_value_error(storage):
    with pytest.raises(ValueError, match=r"^The name must be given to delete\(\)\.$"):
        storage.delete("")


# Answers about entries.


def test_a_link_answers_like_filesystemstorage(storage, media, mirror):
    original = make_file(media / "photos" / "a.txt", b"12345")
    os.utime(original, (1_700_000_000, 1_700_000_000))
    name = save_opened(storage, "photos/a.txt", original)
    plain = FileSystemStorage(location=mirror, base_url="/m/")

    assert storage.exists(name) is plain.exists(name) is True
    assert storage.exists("photos/missing.txt") is plain.exists("photos/missing.txt") is False
    assert storage.size(name) == plain.size(name) == 5
    assert storage.url(name) == plain.url(name) == "/m/photos/a.txt"
    assert storage.listdir("") == plain.listdir("") == (["photos"], [])
    assert storage.listdir("photos") == plain.listdir("photos") == ([], ["a.txt"])
    assert storage.get_modified_time(name) == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert storage.get_modified_time(name) == plain.get_modified_time(name)


def test_entry_kind_and_link_target(storage, tmp_path, media, mirror):
    original = make_file(media / "a.txt")
    save_opened(storage, "link.txt", original)
    storage.save("copy.txt", ContentFile(b"copy"))
    (mirror / "directory").mkdir()
    os.mkfifo(mirror / "fifo")
    os.symlink(tmp_path / "nowhere", mirror / "dangling.txt")

    kinds = {
        name: storage.entry_kind(name)
        for name in ("link.txt", "copy.txt", "directory", "fifo", "dangling.txt", "missing.txt")
    }
    targets = {name: storage.link_target(name) for name in ("link.txt", "copy.txt", "dangling.txt", "missing.txt")}

    assert kinds == {
        "link.txt": "symlink",
        "copy.txt": "copy",
        "directory": "other",
        "fifo": "other",
        "dangling.txt": "symlink",
        "missing.txt": "missing",
    }
    assert targets == {
        "link.txt": os.path.realpath(original),
        "copy.txt": None,
        "dangling.txt": str(tmp_path / "nowhere"),
        "missing.txt": None,
    }


# Unsafe names.


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x"])
def test_save_rejects_a_name_escaping_the_mirror(storage, tmp_path, mirror, name):
    passwd = Path("/etc/passwd").read_bytes()

    with pytest.raises(SuspiciousFileOperation) as excinfo:
        storage.save(name, ContentFile(b"escape"))

    assert str(excinfo.value) == f"Detected path traversal attempt in '{name}'"
    assert not (tmp_path / "x").exists()
    assert Path("/etc/passwd").read_bytes() == passwd
    assert not mirror.exists()


@pytest.mark.parametrize("name", ["../x", "/etc/passwd"])
def test_put_rejects_a_name_escaping_the_mirror(storage, tmp_path, media, name):
    original = make_file(media / "a.txt")

    with pytest.raises(SuspiciousFileOperation):
        storage.put(name, real_source=os.path.realpath(original))

    assert not os.path.lexists(tmp_path / "x")
    assert not os.path.islink("/etc/passwd")


def test_save_rejects_a_name_with_a_nul_byte(storage, tmp_path, mirror):
    # Django's FileSystemStorage lets the OS reject it later with a ValueError.
    with pytest.raises(SuspiciousFileOperation) as excinfo:
        storage.save("a\x00b", ContentFile(b"nul"))

    written = [name for _, _, files in os.walk(tmp_path) for name in files]
    assert str(excinfo.value) == "The name 'a\\x00b' contains a NUL character."
    assert written == []


def test_save_refuses_to_write_through_a_symlinked_directory(storage, tmp_path, mirror):
    outside = tmp_path / "outside"
    outside.mkdir()
    mirror.mkdir()
    os.symlink(outside, mirror / "escape")

    with pytest.raises(SuspiciousFileOperation) as excinfo:
        storage.save("escape/a.txt", ContentFile(b"escape"))

    assert str(excinfo.value) == (
        f"The directory '{mirror / 'escape'}' resolves outside the storage location '{mirror}'; "
        "refusing to write through it."
    )
    assert os.listdir(outside) == []


def test_save_refuses_to_link_through_a_symlinked_directory(storage, tmp_path, media, mirror):
    original = make_file(media / "a.txt")
    outside = tmp_path / "outside"
    outside.mkdir()
    mirror.mkdir()
    os.symlink(outside, mirror / "escape")

    with pytest.raises(SuspiciousFileOperation):
        save_opened(storage, "escape/sub/a.txt", original)

    assert os.listdir(outside) == []


# Settings and options.


def test_symlink_within_accepts_an_os_pathsep_string(tmp_path, mirror):
    first = make_file(tmp_path / "one" / "a.txt", b"one")
    second = make_file(tmp_path / "two" / "b.txt", b"two")
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=f"{tmp_path / 'one'}{os.pathsep}{tmp_path / 'two'}")

    a = save_opened(storage, "a.txt", first)
    b = save_opened(storage, "b.txt", second)

    assert storage.symlink_within == (os.path.realpath(tmp_path / "one"), os.path.realpath(tmp_path / "two"))
    assert storage.link_target(a) == os.path.realpath(first)
    assert storage.link_target(b) == os.path.realpath(second)


def test_storage_follows_symlinkmirror_settings(settings, tmp_path, mirror):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = str(tmp_path / "one")
    settings.SYMLINKMIRROR_LINK_STYLE = "absolute"
    storage = SymlinkOrCopyStorage(location=mirror)
    before = (storage.symlink_within, storage.link_style)

    settings.SYMLINKMIRROR_SYMLINK_WITHIN = f"{tmp_path / 'one'}{os.pathsep}{tmp_path / 'two'}"
    settings.SYMLINKMIRROR_LINK_STYLE = "relative"

    assert before == ((os.path.realpath(tmp_path / "one"),), "absolute")
    assert storage.symlink_within == (os.path.realpath(tmp_path / "one"), os.path.realpath(tmp_path / "two"))
    assert storage.link_style == "relative"


def test_storage_defaults_to_media_root_and_static_root(settings, tmp_path, mirror):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = None
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STATIC_ROOT = str(tmp_path / "static")
    storage = SymlinkOrCopyStorage(location=mirror)
    before = storage.symlink_within

    settings.MEDIA_ROOT = str(tmp_path / "other-media")

    assert before == (os.path.realpath(tmp_path / "media"), os.path.realpath(tmp_path / "static"))
    assert storage.symlink_within == (os.path.realpath(tmp_path / "other-media"), os.path.realpath(tmp_path / "static"))


def test_options_override_settings(settings, tmp_path, mirror):
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = str(tmp_path / "setting")
    settings.SYMLINKMIRROR_LINK_STYLE = "relative"

    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[tmp_path / "option"], link_style="hard")

    assert storage.symlink_within == (os.path.realpath(tmp_path / "option"),)
    assert storage.link_style == "hard"


def test_deconstruct_names_the_public_path():
    storage = SymlinkOrCopyStorage(location="/srv/mirror", symlink_within=["/srv/media"], link_style="relative")

    path, args, kwargs = storage.deconstruct()

    assert path == "symlinkmirror.storage.SymlinkOrCopyStorage"
    assert args == ()
    assert kwargs == {"location": "/srv/mirror", "symlink_within": ["/srv/media"], "link_style": "relative"}


def test_file_permissions_mode_applies_to_copies_only(tmp_path, media, mirror):
    original = make_file(media / "a.txt")
    outside = make_file(tmp_path / "outside" / "b.txt")
    os.chmod(original, 0o644)
    os.chmod(outside, 0o644)
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], file_permissions_mode=0o600)
    hard = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], file_permissions_mode=0o600, link_style="hard")

    linked = save_opened(storage, "linked.txt", original)
    hard_linked = save_opened(hard, "hard.txt", original)
    copied = save_opened(storage, "copied.txt", outside)
    content = storage.save("content.txt", ContentFile(b"content"))

    assert storage.entry_kind(linked) == "symlink"
    assert os.stat(mirror / hard_linked).st_ino == os.stat(original).st_ino
    assert stat.S_IMODE(os.stat(original).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(mirror / copied).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(mirror / content).st_mode) == 0o600


def test_no_temporary_files_remain_after_saves(media, mirror):
    original = make_file(media / "a.txt")
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[media])
    overwriting = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], allow_overwrite=True)

    names = [
        save_opened(storage, "a.txt", original),
        save_opened(storage, "a.txt", original),
        storage.save("a.txt", ContentFile(b"copy")),
        storage.save("sub/a.txt", ContentFile(b"copy")),
        overwriting.save("sub/a.txt", ContentFile(b"replaced")),
        save_opened(overwriting, "sub/a.txt", original),
    ]

    assert len(set(names)) == 4
    assert temp_files(mirror) == []


# Atomicity.


class ObservedContent:
    """Content whose chunks() calls observe() between chunks, while save() is writing it."""

    name = None

    def __init__(self, chunks: list[bytes], observe) -> None:
        self._chunks = chunks
        self._observe = observe

    def chunks(self, chunk_size=None):
        for index, chunk in enumerate(self._chunks):
            if index:
                self._observe()
            yield chunk

    def close(self) -> None:
        pass


MIB = 1024 * 1024


def test_no_half_written_file_is_visible_during_a_copy(storage, mirror):
    seen = []

    def observe():
        temps = [name for name in os.listdir(mirror / "big") if name.startswith(TEMP_PREFIX)]
        sizes = [os.path.getsize(mirror / "big" / name) for name in temps]
        seen.append((os.path.lexists(mirror / "big" / "file.bin"), len(temps), sizes))

    content = ObservedContent([bytes([n]) * MIB for n in range(4)], observe)

    name = storage.save("big/file.bin", content)

    assert seen == [(False, 1, [MIB]), (False, 1, [2 * MIB]), (False, 1, [3 * MIB])]
    assert name == "big/file.bin"
    assert (mirror / "big" / "file.bin").read_bytes() == b"".join(bytes([n]) * MIB for n in range(4))
    assert temp_files(mirror) == []


def test_the_old_content_stays_visible_while_a_replacement_is_written(media, mirror):
    storage = SymlinkOrCopyStorage(location=mirror, symlink_within=[media], allow_overwrite=True)
    old = b"old" * MIB
    storage.save("file.bin", ContentFile(old))
    seen = []

    def observe():
        temps = [name for name in os.listdir(mirror) if name.startswith(TEMP_PREFIX)]
        seen.append(((mirror / "file.bin").read_bytes() == old, len(temps)))

    content = ObservedContent([b"n" * MIB, b"e" * MIB, b"w" * MIB], observe)

    name = storage.save("file.bin", content)

    assert seen == [(True, 1), (True, 1)]
    assert name == "file.bin"
    assert (mirror / "file.bin").read_bytes() == b"n" * MIB + b"e" * MIB + b"w" * MIB
    assert temp_files(mirror) == []


def test_a_failing_copy_leaves_neither_the_name_nor_a_temporary_file(storage, mirror):
    def fail():
        raise OSError("the source went away")

    with pytest.raises(OSError, match=r"^the source went away$"):
        storage.save("a.bin", ObservedContent([b"a" * MIB, b"b" * MIB], fail))

    assert os.listdir(mirror) == []


# Filesystems without symlinks.


def test_saves_on_fat_copy_and_warn_once(settings, media, fat):
    settings.FILE_UPLOAD_PERMISSIONS = None  # FAT has no permission bits to set
    original = make_file(media / "a.txt", b"on fat")
    storage = SymlinkOrCopyStorage(location=fat / "mirror", symlink_within=[media])

    with pytest.warns(RuntimeWarning) as record:
        first = save_opened(storage, "a.txt", original)
        second = save_opened(storage, "b.txt", original)

    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith(f"Cannot create symlinks under '{fat / 'mirror'}' (")
    assert message.endswith("); copying instead.")
    assert (first, second) == ("a.txt", "b.txt")
    assert storage.entry_kind(first) == storage.entry_kind(second) == "copy"
    assert (fat / "mirror" / "a.txt").read_bytes() == (fat / "mirror" / "b.txt").read_bytes() == b"on fat"
    assert original.read_bytes() == b"on fat"
    assert temp_files(fat) == []


def test_fat_copies_take_alternative_names(settings, media, fat):
    settings.FILE_UPLOAD_PERMISSIONS = None  # FAT has no permission bits to set
    original = make_file(media / "a.txt", b"on fat")
    storage = SymlinkOrCopyStorage(location=fat / "mirror", symlink_within=[media])

    with pytest.warns(RuntimeWarning):
        first = save_opened(storage, "a.txt", original)
        second = save_opened(storage, "a.txt", original)

    assert first == "a.txt"
    assert ALTERNATIVE_NAME.match(second)
    assert sorted(os.listdir(fat / "mirror")) == sorted([first, second])


class Watermarked(File):
    """Content that reads other bytes than the file it wraps, as an image filter would."""

    def chunks(self, chunk_size=None):
        for chunk in super().chunks(chunk_size):
            yield chunk.upper()


def test_content_that_rewrites_the_file_it_wraps_is_copied_with_its_own_bytes(storage, media):
    (media / "photo.txt").write_bytes(b"original")

    with (media / "photo.txt").open("rb") as handle:
        name = storage.save("renditions/photo.txt", Watermarked(handle))

    entry = Path(storage.path(name))
    assert not entry.is_symlink()
    assert entry.read_bytes() == b"ORIGINAL"
    assert (media / "photo.txt").read_bytes() == b"original"


def test_a_temporary_upload_inside_a_root_is_copied_not_linked(settings, storage, media):
    # Django deletes a temporary upload after the request: a link to it would break.
    settings.FILE_UPLOAD_TEMP_DIR = str(media)
    upload = TemporaryUploadedFile("upload.txt", "text/plain", 6, "utf-8")
    upload.write(b"upload")
    upload.seek(0)

    name = storage.save("uploads/upload.txt", upload)
    upload.close()

    entry = Path(storage.path(name))
    assert not entry.is_symlink()
    assert entry.read_bytes() == b"upload"


def test_a_link_style_setting_that_is_not_a_style_is_refused_naming_the_setting(settings, mirror):
    settings.SYMLINKMIRROR_LINK_STYLE = "Relative"
    storage = SymlinkOrCopyStorage(location=mirror)

    with pytest.raises(ImproperlyConfigured, match="SYMLINKMIRROR_LINK_STYLE must be one of absolute, relative, hard"):
        storage.link_style  # noqa: B018


def test_a_copy_never_follows_a_symlink_planted_at_its_temporary_name(tmp_path, media, monkeypatch):
    from symlinkmirror import entries

    (media / "a.txt").write_text("alpha")
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (tmp_path / "planted").symlink_to(victim)
    monkeypatch.setattr(entries, "fresh_temp_base", lambda: "planted")  # as if guessed ahead of us
    dir_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)

    with pytest.raises(FileExistsError):
        entries.stage_copy(dir_fd, real_source=str(media / "a.txt"), mode=0o644)

    os.close(dir_fd)
    assert victim.read_text() == "untouched"
