"""Under load: a real nginx serves the mirror while 20 generations are published and one is rolled back.

Clients on 127.0.0.1 fetch a fixed set of page and asset URLs in a loop, over
kept-alive connections, the whole time. Every answer must be a 200 whose body is
one whole version of its file: never a 404 in the switch, never a 5xx, never a
body cut short or mixed from two versions.
"""

from __future__ import annotations

import collections
import http.client
import io
import os
import threading
import time

import pytest
from django.core.management import call_command

from tests.test_origin import is_root, running_nginx

pytestmark = pytest.mark.nginx

GENERATIONS = 20
ROLLBACK_AFTER = 10
CLIENTS = 2
PAGES = ("static/index.html", "static/about/team.html")
ASSETS = ("static/css/app.css", "static/js/app.js", "media/img/logo.png", "media/img/hero.jpg")


def version(name: str, number: int) -> bytes:
    """Version number of name: hundreds of KiB, a size of its own, so a short or mixed body matches no version."""
    fill = bytes([number % 251 + 1]) * (200_000 + 1_000 * number + len(name))
    return f"{name} version {number}\n".encode() + fill + b"\nend\n"


def write_all(setup, number: int) -> None:
    """Every file at version number, each replaced atomically in its source folder, as collectstatic would."""
    for name in PAGES + ASSETS:
        prefix, _, rel = name.partition("/")
        path = (setup.media if prefix == "media" else setup.static) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(version(name, number))
        os.utime(tmp, ns=(time.time_ns(), 1_700_000_000_000_000_000 + number * 1_000_000_000))
        os.replace(tmp, path)


class Client(threading.Thread):
    """Fetches every URL in turn until stopped; records each answer that is not one whole version."""

    def __init__(self, port: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.known = {name: {version(name, n) for n in range(GENERATIONS + 1)} for name in PAGES + ASSETS}
        self.statuses: collections.Counter[int] = collections.Counter()
        self.problems: list[str] = []
        self.seen: dict[str, list[int]] = collections.defaultdict(list)

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stop.is_set():
            for name in PAGES + ASSETS:
                try:
                    connection.request("GET", f"/{name}")
                    response = connection.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    self.problems.append(f"{name}: {type(exc).__name__}: {exc}")
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    continue
                self.statuses[response.status] += 1
                if response.status != 200:
                    self.problems.append(f"{name}: HTTP {response.status}")
                elif body not in self.known[name]:
                    self.problems.append(f"{name}: a body of {len(body)} bytes that is no whole version")
                else:
                    self.seen[name].append(int(body.split(b"\n", 1)[0].rsplit(b" ", 1)[1]))
        connection.close()


@pytest.fixture
def site(settings, mirror_in_tmp_path):
    setup = mirror_in_tmp_path
    settings.SYMLINKMIRROR_SYMLINK_WITHIN = [str(setup.media)]  # media linked, static copied
    settings.SYMLINKMIRROR_SOURCES = {
        "media": {"storage": "default", "prefix": "media", "generations": 3},
        "static": {"storage": "staticfiles", "prefix": "static", "generations": 3},
    }
    write_all(setup, 0)
    collectmirror("--delete")
    return setup


def collectmirror(*args: str) -> None:
    call_command("collectmirror", *args, stdout=io.StringIO(), stderr=io.StringIO())


def test_no_request_fails_or_gets_a_partial_body_while_generations_are_switched(site, tmp_path):
    user = "user root;" if is_root() else ""
    stop = threading.Event()
    with running_nginx(site.mirror, tmp_path / "nginx", user=user) as origin:
        clients = [Client(origin.port, stop) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        try:
            for number in range(1, GENERATIONS + 1):
                time.sleep(0.05)
                write_all(site, number)
                collectmirror("--delete")
                if number == ROLLBACK_AFTER:
                    time.sleep(0.05)
                    collectmirror("--rollback")
            time.sleep(0.1)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=10)

    statuses = sum((client.statuses for client in clients), collections.Counter())
    problems = [problem for client in clients for problem in client.problems]
    seen = [number for client in clients for number in client.seen["static/css/app.css"]]
    assert problems == []
    assert set(statuses) == {200}
    assert statuses[200] > 20 * len(PAGES + ASSETS)
    assert len(set(seen)) > GENERATIONS // 2  # the clients saw the switches happen...
    assert any(later < earlier for earlier, later in zip(seen, seen[1:], strict=False))  # ...and the rollback
    assert len(os.listdir(site.mirror / ".generations" / "static")) <= 3 + 1  # three kept, and 'previous'
