"""The tests each pass is allowed to fail, each with its reason; the harness fails when this list is not exact."""

from __future__ import annotations

from dataclasses import dataclass

from .passes import Pass


@dataclass(frozen=True)
class Expected:
    test: str
    reason: str
    passes: tuple[Pass, ...] = (Pass.PLAIN, Pass.LINKED)
    django: str = ""  # a version prefix such as "5.2" or "6", "" for every version

    def applies(self, pass_name: Pass, version: str) -> bool:
        in_version = not self.django or version == self.django or version.startswith(self.django + ".")
        return pass_name in self.passes and in_version


FILE_STORAGE = "file_storage.tests"
PERMISSIONS = "staticfiles_tests.test_storage.TestStaticFilePermissions"
LINKED_MODE = (
    "A linked entry has no mode of its own: stat() follows the link to the source in Django's tree (0644), "
    "and the storage never chmods through a link, so file_permissions_mode and the umask cannot apply."
)

EXPECTED: tuple[Expected, ...] = (
    Expected(
        f"{FILE_STORAGE}.FileSystemStorageTests.test_deconstruction",
        "deconstruct() names the class itself, 'symlinkmirror.storage.SymlinkOrCopyStorage', as every "
        "deconstructible subclass must for migrations to rebuild it; the test expects Django's own path.",
    ),
    Expected(
        "staticfiles_tests.test_management.TestCollectionLinks.test_symlinks_and_files_replaced",
        "After `collectstatic --link`, a run without --link must leave a regular file; the storage links "
        "test.txt again because it lies in symlink_within.",
        passes=(Pass.LINKED,),
    ),
    Expected(
        "staticfiles_tests.test_storage.TestCollectionManifestStorage.test_post_processing",
        "collectstatic without --link never skips a target that is a symlink (it takes it for the leftover "
        "of a --link run), so a linked file is deleted and saved again on every run, never 'unmodified'.",
        passes=(Pass.LINKED,),
    ),
    Expected(f"{PERMISSIONS}.test_collect_static_files_default_permissions", LINKED_MODE, passes=(Pass.LINKED,)),
    Expected(f"{PERMISSIONS}.test_collect_static_files_permissions", LINKED_MODE, passes=(Pass.LINKED,)),
    Expected(f"{PERMISSIONS}.test_collect_static_files_subclass_of_static_storage", LINKED_MODE, passes=(Pass.LINKED,)),
)


def expected_failures(pass_name: Pass, version: str) -> dict[str, str]:
    """{test id: reason} of the tests that pass may fail on that Django version."""
    return {e.test: e.reason for e in EXPECTED if e.applies(pass_name, version)}
