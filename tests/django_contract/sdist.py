"""Django's test tree for one release, from its sdist: downloaded once, verified against PyPI, cached."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from . import snapshot

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "django-tests"
RELEASE_JSON = "https://pypi.org/pypi/Django/{version}/json"
PROJECT_JSON = "https://pypi.org/pypi/Django/json"
MANIFEST = "manifest.json"


class SdistError(Exception):
    """The sdist could not be fetched, or is not the one PyPI published."""


def cached_tree(version: str, *, log=print) -> tuple[Path, dict[str, str]]:
    """The tests/ folder of Django `version` and the snapshot it was extracted with.

    A cached tree is reused only when it still matches the snapshot stored
    beside it; anything else (a missing, partial or edited cache) is fetched anew.
    """
    home = CACHE / version
    with open(_mkdir(CACHE) / f"{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # runs in parallel (one per Python) fetch it once
        return _cached_or_fetched(version, home, log)


def _cached_or_fetched(version: str, home: Path, log) -> tuple[Path, dict[str, str]]:
    tree = home / "tests"
    manifest = _read_manifest(home / MANIFEST)
    if manifest is not None and tree.is_dir():
        if snapshot.take(tree) == manifest["files"]:
            return tree, manifest["files"]
        log(f"The cached Django {version} test tree at '{tree}' was modified; fetching it again.")
    digest = published_sha256(version)
    with tempfile.TemporaryDirectory(prefix="download-", dir=CACHE) as tmp:
        sdist = _download(version, digest, Path(tmp))
        staged = Path(tmp) / "staged"
        _extract_tests(sdist, staged)
        files = snapshot.take(staged / "tests")
        (staged / MANIFEST).write_text(
            json.dumps({"version": version, "sdist_sha256": digest, "files": files}, indent=0, sort_keys=True)
        )
        shutil.rmtree(home, ignore_errors=True)
        staged.rename(home)  # whole or not at all: an interrupted run leaves no half tree
    log(f"Cached Django {version}'s test tree (sdist sha256 {digest}) in '{tree}'.")
    return tree, files


def published_sha256(version: str) -> str:
    """The sha256 PyPI lists for the sdist of Django `version`."""
    release = _get_json(RELEASE_JSON.format(version=version))
    if release is not None:
        files = release["urls"]
    else:  # some mirrors serve only the project document, which lists every release's files
        project = _get_json(PROJECT_JSON) or {"releases": {}}
        files = project["releases"].get(version, [])
    digests = [f["digests"]["sha256"] for f in files if f["packagetype"] == "sdist"]
    if len(digests) != 1:
        raise SdistError(f"PyPI lists {len(digests)} sdists for Django {version}; expected exactly one.")
    return digests[0]


def _download(version: str, digest: str, directory: Path) -> Path:
    # --require-hashes: pip checks the digest before it builds the sdist's metadata,
    # so nothing from an unverified archive runs.
    requirement = directory / "requirement.txt"
    requirement.write_text(f"django=={version} --hash=sha256:{digest}\n")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps"]
    command += ["--require-hashes", "-r", str(requirement), "-d", str(directory)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SdistError(f"pip could not download the Django {version} sdist:\n{done.stdout}{done.stderr}")
    (sdist,) = directory.glob("*.tar.gz")
    actual = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if actual != digest:
        raise SdistError(f"'{sdist.name}' has sha256 {actual}, but PyPI publishes {digest}.")
    return sdist


def _extract_tests(sdist: Path, destination: Path) -> None:
    """Extract only <root>/tests/, through the 'data' filter (no links out, no device files)."""
    with tarfile.open(sdist) as archive:
        root = archive.getmembers()[0].name.split("/")[0]
        prefix = f"{root}/tests/"
        members = []
        for member in archive.getmembers():
            if member.name.startswith(prefix):
                member.name = member.name[len(root) + 1 :]
                members.append(member)
        if not members:
            raise SdistError(f"'{sdist.name}' has no tests/ folder.")
        archive.extractall(destination, members=members, filter="data")


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _get_json(url: str) -> dict | None:
    """The document at url; None when there is none (404)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise SdistError(f"Could not read '{url}': {exc}.") from exc
    except (OSError, ValueError) as exc:
        raise SdistError(f"Could not read '{url}': {exc}.") from exc


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
