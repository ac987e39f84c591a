"""Whether a mirror's filesystem can hold symlinks (FAT cannot): probed at its location, remembered, said once."""

from __future__ import annotations

import os
import warnings

from .entries import CANNOT_SYMLINK
from .paths import temp_name


class SymlinkCapability:
    """What one storage has learnt about symlinks at its location; reset() when the location changes.

    Only errnos are kept, never an exception: its traceback would hold the
    frames of put() alive, and with them open directory descriptors (a FAT
    mount that cannot be unmounted).
    """

    def __init__(self) -> None:
        self.unsupported = False  # a symlink was refused at the location itself
        self.probed = False  # a probe symlink was made there

    def reset(self) -> None:
        self.unsupported = self.probed = False

    def supported(self, real_location: str, location: str | os.PathLike[str]) -> bool:
        """Whether symlinks can be made at real_location, tried once it exists; location names it in the warning."""
        if self.unsupported:
            return False
        if self.probed:
            return True
        refused = probe(real_location)
        if refused is None:
            self.probed = True
            return True
        if refused in CANNOT_SYMLINK:
            self._give_up(location, os.strerror(refused), stacklevel=4)
            return False
        return True  # no location yet: nothing to tell, ask again later

    def refused(self, exc: OSError, real_location: str, location: str | os.PathLike[str]) -> bool:
        """Whether exc (a symlink refused at one name) means the filesystem has none; if so, remember it.

        An EPERM at one name may be its directory's (an immutable one), not the
        filesystem's: a probe at the location decides, and a local failure
        stays the caller's to raise.
        """
        if probe(real_location) is None:
            return False
        self._give_up(location, exc.strerror, stacklevel=5)
        return True

    def _give_up(self, location: str | os.PathLike[str], reason: str | None, *, stacklevel: int) -> None:
        # stacklevel skips this class's frames and the storage's, naming the code that asked it.
        self.unsupported = True
        warnings.warn(
            f"Cannot create symlinks under '{location}' ({reason}); copying instead.",
            RuntimeWarning,
            stacklevel=stacklevel,
        )


def probe(directory: str) -> int | None:
    """None when a symlink can be made (and is removed again) in directory, else the errno that refused it."""
    name = temp_name(directory)
    try:
        os.symlink(".", name)
    except OSError as exc:
        return exc.errno
    os.unlink(name)
    return None
