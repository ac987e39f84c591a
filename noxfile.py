"""The test matrix: `make test` runs every session; `nox -l` lists them, `nox -s NAME` runs one."""

from __future__ import annotations

import glob
import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
# A matrix entry whose interpreter is missing is a failure, never a skip.
nox.options.error_on_missing_interpreters = True

# (Python, Django series): the LTS on the oldest Python we support, the newest Django on the rest.
MATRIX = [
    ("3.11", "5.2"),
    ("3.12", "6"),
    ("3.13", "6"),
]
DJANGO_SPECIFIERS = {"5.2": "Django>=5.2,<5.3", "6": "Django>=6.0,<7"}


def _put_pyenv_interpreters_on_path() -> None:
    """Let nox find pyenv's pythonX.Y without a `pyenv global` that names them all."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for python in sorted({python for python, _ in MATRIX}):
        versions = glob.glob(os.path.join(root, "versions", f"{python}.*", "bin", f"python{python}"))
        versions.sort(key=lambda path: [int(part) for part in path.split(os.sep)[-3].split(".") if part.isdigit()])
        if versions:
            found.append(os.path.dirname(versions[-1]))
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_put_pyenv_interpreters_on_path()
# uv must use the interpreters this machine has, never download one.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


@nox.session
@nox.parametrize(("python", "django"), MATRIX)
def tests(session: nox.Session, django: str) -> None:
    """Our suite; arguments after -- go to pytest."""
    session.install("-e", ".[test]", DJANGO_SPECIFIERS[django])
    session.run("python", "-m", "django", "--version")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
@nox.parametrize(("python", "django"), MATRIX)
def contract(session: nox.Session, django: str) -> None:
    """Django's own file_storage and staticfiles_tests suites, with SymlinkOrCopyStorage swapped in."""
    session.install("-e", ".", "pip", DJANGO_SPECIFIERS[django])
    session.run("python", "-m", "tests.django_contract", *(session.posargs or ["--pass", "all"]))
