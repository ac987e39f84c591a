"""A throwaway PostgreSQL cluster for the distributed tests: initdb in a temporary folder, a unix socket there, no TCP.

Never the machine's own cluster: its data, socket and port are the test's, and
it is stopped and deleted at the end. PostgreSQL refuses to run as root, so
under root (CI) the server runs as the 'postgres' user, or 'nobody'.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .peers import free_port


def postgres_bin(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"))
        found = candidates[-1] if candidates else None
    if found is None:
        pytest.fail(
            f"{program} is not installed: run `make test`, which installs postgresql with .ci/install-os-packages."
        )
    return found


@dataclass
class Postgres:
    socket_dir: str
    port: int
    user: str = "postgres"

    def database(self, name: str) -> dict[str, dict[str, object]]:
        """DATABASES for a new, empty database of this name on the cluster."""
        import psycopg

        with psycopg.connect(host=self.socket_dir, port=self.port, user=self.user, dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": name,
                "USER": self.user,
                "HOST": self.socket_dir,
                "PORT": str(self.port),
            }
        }


def _server_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix, uid and gid to run the server with: ourselves, or an unprivileged user under root."""
    if os.geteuid() != 0:
        return [], None, None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return (
            ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"],
            entry.pw_uid,
            entry.pw_gid,
        )
    pytest.fail("Running as root with neither a 'postgres' nor a 'nobody' user to run PostgreSQL as.")


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    prefix, uid, gid = _server_user()
    home = tempfile.mkdtemp(prefix="symlinkmirror-pg-")
    data, sockets = os.path.join(home, "data"), os.path.join(home, "sockets")
    os.makedirs(sockets)
    if uid is not None:
        os.chmod(home, 0o755)
        for path in (home, sockets):
            os.chown(path, uid, gid or 0)
    port = free_port()
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    log = os.path.join(home, "server.log")
    try:
        subprocess.run(
            [*prefix, postgres_bin("initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            env=env,
        )
        options = f"-k {sockets} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=100"
        started = subprocess.run(
            [*prefix, postgres_bin("pg_ctl"), "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"],
            capture_output=True,
            text=True,
            env=env,
        )
        if started.returncode != 0:
            text = Path(log).read_text() if os.path.exists(log) else ""
            pytest.fail(f"PostgreSQL did not start: {started.stderr}\n{text}")
        try:
            yield Postgres(sockets, port)
        finally:
            subprocess.run(
                [*prefix, postgres_bin("pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"],
                capture_output=True,
                env=env,
            )
    finally:
        shutil.rmtree(home, ignore_errors=True)
