"""System checks for misconfigurations that would build a wrong or looping mirror."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InvalidStorageError, storages  # noqa: F401

from . import conf
from .paths import LINK_STYLES, is_within
from .sources import Source

BACKEND = "symlinkmirror.storage.SymlinkOrCopyStorage"


def check_mirror(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from .storage import SymlinkOrCopyStorage

    errors: list[checks.CheckMessage] = []
    link_style = conf.get("LINK_STYLE")
    if link_style not in LINK_STYLES:
        errors.append(
            checks.Error(
                f"SYMLINKMIRROR_LINK_STYLE is {link_style!r}.",
                hint=f"Use one of: {', '.join(LINK_STYLES)}.",
                id="symlinkmirror.E005",
            )
        )
    try:
        source_specs = conf.sources()
    except ImproperlyConfigured as exc:
        errors.append(
            checks.Error(str(exc), hint="See the Settings table in symlinkmirror's README.", id="symlinkmirror.E006")
        )
        source_specs = {}

    alias = conf.get("STORAGE")
    mirror = None
    if alias not in settings.STORAGES:
        errors.append(
            checks.Warning(
                f"STORAGES has no {alias!r} alias, so collectmirror and verifymirror have no mirror to write.",
                hint=f"Add STORAGES[{alias!r}] = {{'BACKEND': '{BACKEND}', 'OPTIONS': {{'location': ...}}}}, or set SYMLINKMIRROR_STORAGE.",
                id="symlinkmirror.W001",
            )
        )
    else:
        try:
            mirror = storages[alias]
        except (ImproperlyConfigured, InvalidStorageError, ImportError, TypeError) as exc:
            errors.append(
                checks.Error(
                    f"STORAGES[{alias!r}] cannot be created: {exc}",
                    hint="Fix its BACKEND or OPTIONS.",
                    id="symlinkmirror.E004",
                )
            )
        else:
            if not isinstance(mirror, SymlinkOrCopyStorage):
                errors.append(
                    checks.Error(
                        f"STORAGES[{alias!r}] is a {type(mirror).__name__}, not a SymlinkOrCopyStorage.",
                        hint=f"Set its BACKEND to '{BACKEND}'.",
                        id="symlinkmirror.E004",
                    )
                )
                mirror = None
    if mirror is None:
        return errors
    assert isinstance(mirror, SymlinkOrCopyStorage)

    # An explicitly configured root that is missing is a typo; MEDIA_ROOT or
    # STATIC_ROOT, the defaults, may simply not have been created yet.
    explicit = mirror._symlink_within is not None or getattr(settings, "SYMLINKMIRROR_SYMLINK_WITHIN", None) is not None
    for root in mirror.symlink_within:
        if os.path.isdir(root):
            continue
        message = f"The symlink_within root '{root}' of STORAGES[{alias!r}] does not exist or is not a directory."
        if explicit:
            hint = "Create it, or fix the storage's symlink_within OPTION / SYMLINKMIRROR_SYMLINK_WITHIN."
            errors.append(checks.Error(message, hint=hint, id="symlinkmirror.E001"))
        else:
            hint = (
                "It defaults to MEDIA_ROOT and STATIC_ROOT; create the directory (collectstatic does for STATIC_ROOT)."
            )
            errors.append(checks.Warning(message, hint=hint, id="symlinkmirror.W002"))
    mirror_root = mirror.real_location
    source_roots = set(mirror.symlink_within)
    for name, spec in source_specs.items():
        if spec["storage"] not in settings.STORAGES:
            errors.append(
                checks.Error(
                    f"SYMLINKMIRROR_SOURCES[{name!r}] names the storage alias {spec['storage']!r}, which STORAGES does not define.",
                    hint="Add that alias to STORAGES or fix SYMLINKMIRROR_SOURCES.",
                    id="symlinkmirror.E006",
                )
            )
            continue
        try:
            local_root = Source(name, storages[spec["storage"]]).local_root
        except (ImproperlyConfigured, ImportError, TypeError, ValueError) as exc:
            errors.append(
                checks.Error(
                    f"The source {name!r} of SYMLINKMIRROR_SOURCES cannot be used: {exc}",
                    hint=f"Fix STORAGES[{spec['storage']!r}] or SYMLINKMIRROR_SOURCES.",
                    id="symlinkmirror.E006",
                )
            )
            continue
        if local_root is not None:  # a storage without local files cannot loop through the mirror
            source_roots.add(os.path.realpath(local_root))
    for root in sorted(source_roots):
        if is_within(mirror_root, root):
            errors.append(
                checks.Error(
                    f"The mirror location '{mirror_root}' lies inside the source root '{root}': the mirror would mirror itself.",
                    hint="Put the mirror outside MEDIA_ROOT, STATIC_ROOT and every symlink_within root.",
                    id="symlinkmirror.E002",
                )
            )
        elif is_within(root, mirror_root):
            errors.append(
                checks.Error(
                    f"The source root '{root}' lies inside the mirror location '{mirror_root}': the mirror would contain its own sources.",
                    hint="Put the mirror location beside the source roots, not above them.",
                    id="symlinkmirror.E003",
                )
            )
    return errors


# Purge checks run with the files checks (so collectmirror runs them) and alone
# under this tag (purgemirror, which needs no mirror to be right).
PURGE_TAG = "symlinkmirror_purge"
PURGE_SHAPE = "{alias: {'BACKEND': 'symlinkmirror.purge.CloudFrontBackend', 'OPTIONS': {...}}}"


@checks.register(checks.Tags.files, PURGE_TAG)
def check_purge(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """SYMLINKMIRROR_PURGE: its shape (E007), each BACKEND (E008), its OPTIONS (E009) and SDK (E010)."""
    specs = conf.get("PURGE")
    if not isinstance(specs, dict):
        return [
            checks.Error(
                f"SYMLINKMIRROR_PURGE is a {type(specs).__name__}, not a dict.",
                hint=f"Set it like STORAGES: {PURGE_SHAPE}.",
                id="symlinkmirror.E007",
            )
        ]
    errors: list[checks.CheckMessage] = []
    for alias, spec in specs.items():
        errors.extend(_check_purge_backend(str(alias), spec))
    return errors


def _check_purge_backend(alias: str, spec: Any) -> list[checks.CheckMessage]:
    import importlib.util

    from django.utils.module_loading import import_string

    from .purge import PurgeBackend

    where = f"SYMLINKMIRROR_PURGE[{alias!r}]"
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("BACKEND"), str)
        or not isinstance(spec.get("OPTIONS", {}), dict)
    ):
        return [
            checks.Error(
                f"{where} must be a dict with a 'BACKEND' path and, optionally, an 'OPTIONS' dict.",
                hint=f"Set SYMLINKMIRROR_PURGE like STORAGES: {PURGE_SHAPE}.",
                id="symlinkmirror.E007",
            )
        ]
    try:
        cls = import_string(spec["BACKEND"])
    except ImportError as exc:
        cls, problem = None, f"cannot be imported: {exc}"
    else:
        problem = f"{spec['BACKEND']!r} is not a subclass of symlinkmirror.purge.PurgeBackend"
    if not (isinstance(cls, type) and issubclass(cls, PurgeBackend)):
        return [
            checks.Error(
                f"{where}['BACKEND'] {problem}.",
                hint="Use one of symlinkmirror.purge's backends (CloudFrontBackend, CloudflareBackend, "
                "FastlyBackend, VarnishBackend) or a subclass of PurgeBackend.",
                id="symlinkmirror.E008",
            )
        ]
    try:
        cls(**spec.get("OPTIONS", {})).close()
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        return [
            checks.Error(
                f"{where}['OPTIONS'] are wrong: {exc}",
                hint=f"See the options of {cls.__name__} in symlinkmirror's README, section 'CDN purge'.",
                id="symlinkmirror.E009",
            )
        ]
    missing = [module for module in cls.requires if importlib.util.find_spec(module) is None]
    if missing:
        extra = f"pip install 'symlinkmirror[{cls.extra}]'" if cls.extra else f"pip install {' '.join(missing)}"
        return [
            checks.Error(
                f"{where} ({cls.__name__}) needs {', '.join(missing)}, which is not installed.",
                hint=f"Install it: {extra}.",
                id="symlinkmirror.E010",
            )
        ]
    return []


@checks.register(checks.Tags.files, PURGE_TAG)
def check_state_dir(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """SYMLINKMIRROR_STATE_DIR must lie outside the mirror (E011)."""
    from .purge import PurgeError, state_dir
    from .purge.state import mirror_location

    try:
        mirror_location()
    except (ImproperlyConfigured, InvalidStorageError, ImportError, TypeError):
        return []  # a mirror that cannot be created is check_mirror's E004
    try:
        state_dir()
    except PurgeError as exc:
        return [
            checks.Error(
                str(exc),
                hint="The mirror is published: keep purge state in a private folder beside it.",
                id="symlinkmirror.E011",
            )
        ]
    return []
