"""System checks of SYMLINKMIRROR_PURGE and SYMLINKMIRROR_STATE_DIR: one small function per problem, one id each."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InvalidStorageError
from django.utils.module_loading import import_string

from .. import conf
from ..checks import PURGE_TAG, Messages
from .base import PurgeBackend
from .state import PurgeError, mirror_location, state_dir

# They run with the files checks (so collectmirror runs them) and alone under
# PURGE_TAG (purgemirror, which needs no mirror to be right).
TAGS = (checks.Tags.files, PURGE_TAG)
SHAPE = "{alias: {'BACKEND': 'symlinkmirror.purge.CloudFrontBackend', 'OPTIONS': {...}}}"
BACKENDS_HINT = (
    "Use one of symlinkmirror.purge's backends (CloudFrontBackend, CloudflareBackend, "
    "FastlyBackend, VarnishBackend) or a subclass of PurgeBackend."
)


def check_purge(app_configs: Any = None, **kwargs: Any) -> Messages:
    """SYMLINKMIRROR_PURGE: its shape (E007), then each entry's first problem."""
    specs = conf.get("PURGE")
    if not isinstance(specs, dict):
        return [
            checks.Error(
                f"SYMLINKMIRROR_PURGE is a {type(specs).__name__}, not a dict.",
                hint=f"Set it like STORAGES: {SHAPE}.",
                id="symlinkmirror.E007",
            )
        ]
    return [error for alias, spec in specs.items() if (error := _first_problem(str(alias), spec))]


def check_state_dir(app_configs: Any = None, **kwargs: Any) -> Messages:
    """E011: SYMLINKMIRROR_STATE_DIR lies inside the mirror."""
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


# In report order; apps.ready() registers each under TAGS.
ALL: list[Callable[..., Messages]] = [check_purge, check_state_dir]


def _first_problem(alias: str, spec: Any) -> checks.CheckMessage | None:
    """One entry's first problem: each check needs the one before it to pass (no class, no options to try)."""
    where = f"SYMLINKMIRROR_PURGE[{alias!r}]"
    if not _well_formed(spec):
        return _malformed_entry(where)
    cls, problem = _backend_class(spec["BACKEND"])
    if cls is None:
        return _not_a_backend(where, problem)
    return _wrong_options(where, cls, spec.get("OPTIONS", {})) or _missing_sdk(where, cls)


def _well_formed(spec: Any) -> bool:
    return isinstance(spec, dict) and isinstance(spec.get("BACKEND"), str) and isinstance(spec.get("OPTIONS", {}), dict)


def _malformed_entry(where: str) -> checks.CheckMessage:
    """E007: an entry is not {'BACKEND': path, 'OPTIONS': {...}}."""
    return checks.Error(
        f"{where} must be a dict with a 'BACKEND' path and, optionally, an 'OPTIONS' dict.",
        hint=f"Set SYMLINKMIRROR_PURGE like STORAGES: {SHAPE}.",
        id="symlinkmirror.E007",
    )


def _backend_class(path: str) -> tuple[type[PurgeBackend] | None, str]:
    """The PurgeBackend subclass at path, or None and what is wrong with it."""
    try:
        cls = import_string(path)
    except ImportError as exc:
        return None, f"cannot be imported: {exc}"
    if isinstance(cls, type) and issubclass(cls, PurgeBackend):
        return cls, ""
    return None, f"{path!r} is not a subclass of symlinkmirror.purge.PurgeBackend"


def _not_a_backend(where: str, problem: str) -> checks.CheckMessage:
    """E008: the BACKEND cannot be imported, or is no PurgeBackend."""
    return checks.Error(f"{where}['BACKEND'] {problem}.", hint=BACKENDS_HINT, id="symlinkmirror.E008")


def _wrong_options(where: str, cls: type[PurgeBackend], options: dict[str, Any]) -> checks.CheckMessage | None:
    """E009: the backend refuses its OPTIONS."""
    try:
        cls(**options).close()
    except (ImproperlyConfigured, TypeError, ValueError) as exc:
        return checks.Error(
            f"{where}['OPTIONS'] are wrong: {exc}",
            hint=f"See the options of {cls.__name__} in symlinkmirror's README, section 'CDN purge'.",
            id="symlinkmirror.E009",
        )
    return None


def _missing_sdk(where: str, cls: type[PurgeBackend]) -> checks.CheckMessage | None:
    """E010: a module the backend needs is not installed."""
    missing = [module for module in cls.requires if importlib.util.find_spec(module) is None]
    if not missing:
        return None
    extra = f"pip install 'symlinkmirror[{cls.extra}]'" if cls.extra else f"pip install {' '.join(missing)}"
    return checks.Error(
        f"{where} ({cls.__name__}) needs {', '.join(missing)}, which is not installed.",
        hint=f"Install it: {extra}.",
        id="symlinkmirror.E010",
    )
