"""Peers the purge tests talk to, each started on 127.0.0.1 on a free port and stopped on exit: moto's server, varnishd."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT = 30  # seconds: varnishd compiles its VCL with cc; moto imports Flask
TIMEOUT = 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running(name: str, command: list[str], port: int, logs: Path) -> Iterator[subprocess.Popen]:
    """command running until exit, once it accepts connections on 127.0.0.1:port; its output in logs."""
    logs.parent.mkdir(parents=True, exist_ok=True)
    with logs.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with status {process.returncode}:\n{logs.read_text()}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"{name} did not accept connections on 127.0.0.1:{port} in {START_TIMEOUT}s.")
                    time.sleep(0.05)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def running_moto(folder: Path) -> Iterator[str]:
    """moto's server (the moto[server] extra), a real process speaking AWS's APIs; yields its endpoint URL."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with running("moto_server", command, port, folder / "moto.log"):
        yield f"http://127.0.0.1:{port}"


def varnishd_binary() -> str:
    found = shutil.which("varnishd") or ("/usr/sbin/varnishd" if os.access("/usr/sbin/varnishd", os.X_OK) else None)
    if found is None:
        pytest.fail("varnishd is not installed: run `make test`, which installs it with .ci/install-os-packages.")
    return found


@dataclass
class Varnish:
    port: int

    @property
    def location(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, bytes, str]:
        """GET path through Varnish: (status, body, X-Cache), never through a proxy."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.location + path, timeout=TIMEOUT) as response:
                return response.status, response.read(), response.headers.get("X-Cache", "")
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read(), exc.headers.get("X-Cache", "")


@contextmanager
def running_varnish(vcl: str, folder: Path) -> Iterator[Varnish]:
    """varnishd with this VCL on a free port, its working directory under folder.

    -j none: no privilege separation, so a varnishd started by root can read a
    VCL in pytest's private tmp_path (its jail would switch to the varnish user).
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (folder / "test.vcl").write_text(vcl)
    command = [
        varnishd_binary(),
        "-F",
        "-j", "none",
        "-a", f"127.0.0.1:{port}",
        "-f", str(folder / "test.vcl"),
        "-n", str(folder / "work"),
        "-s", "malloc,16m",
        "-T", "none",
    ]  # fmt: skip
    with running("varnishd", command, port, folder / "varnishd.log"):
        yield Varnish(port)
