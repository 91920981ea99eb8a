"""Real ``claimscan`` servers in subprocesses, for the lifecycle and supervisor tests.

Each server runs on a free loopback port over a private copy of models/ (the ``models_dir``
fixture in conftest.py), so a test can repoint ``current``. Waits have generous deadlines:
they are safety nets for slow CI machines, not timing assertions.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.artifacts import CURRENT_FILE, MANIFEST_FILE

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
DEADLINE = 60.0  # seconds; a healthy server starts in about two
STOP_GRACE = 10.0  # seconds for a server to stop on SIGTERM at the end of a test

DOCUMENT = (
    "Our IV drips cure depression within hours. They are completely safe and FDA approved! "
    "Studies show 9 out of 10 clients feel better than with antidepressants. "
    "Side effects can include bruising at the injection site. Book a consultation today."
)

Command = Callable[[int], list[str]]


def uvicorn_command(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]


def claimscan_serve_command(port: int) -> list[str]:
    return [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(models_dir: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CLAIMSCAN_")}
    env.update(CLAIMSCAN_MODEL_DIR=str(models_dir), CLAIMSCAN_LOG_FORMAT="json", CLAIMSCAN_LOG_LEVEL="info")
    env.update(extra)
    return env


def wait_until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    give_up = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    stderr_path: Path
    stdout_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def version(self) -> str | None:
        """The model version /readyz reports, or None while it is not ready or not answering."""
        try:
            response = httpx.get(f"{self.url}/readyz", timeout=5)
        except httpx.TransportError:
            return None
        return str(response.json()["model_version"]) if response.status_code == 200 else None

    def wait_ready(self) -> str:
        give_up = time.monotonic() + DEADLINE
        while (version := self.version()) is None:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited ({self.process.returncode}) before it was ready:\n{self.stderr()}")
            if time.monotonic() > give_up:
                raise AssertionError(f"server not ready after {DEADLINE} s:\n{self.stderr()}")
            time.sleep(0.05)
        return version

    def wait_for_log(self, text: str) -> None:
        wait_until(lambda: text in self.stderr(), f"{text!r} in the server log")

    def access_log(self) -> list[dict[str, Any]]:
        """claimscan's JSON access-log entries written so far (complete lines only)."""
        lines = self.stderr().split("\n")[:-1]
        entries = [json.loads(line) for line in lines if line.startswith("{")]
        return [entry for entry in entries if entry.get("logger") == "claimscan.access"]

    def requests_to(self, path: str) -> int:
        return sum(1 for entry in self.access_log() if entry["path"] == path)


@contextmanager
def serving(tmp_path: Path, models_dir: Path, command: Command = uvicorn_command, **env: str) -> Iterator[Server]:
    port = free_port()
    stderr_path = tmp_path / f"server-{port}.stderr"
    stdout_path = tmp_path / f"server-{port}.stdout"
    with stderr_path.open("wb") as stderr, stdout_path.open("wb") as stdout:
        process = subprocess.Popen(
            command(port),
            cwd=ROOT,
            env=server_env(models_dir, **env),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # a process group of its own, to kill with the workers it starts
        )
    server = Server(process, f"http://127.0.0.1:{port}", stderr_path, stdout_path)
    try:
        server.wait_ready()
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server the way an orchestrator would, so a supervisor stops its workers and removes its
    metrics directory; SIGKILL, if it hangs, goes to its whole process group: killing only the
    supervisor would leave its workers serving on, orphaned."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # still unreaped, so the group id cannot be anyone else's
    process.wait(timeout=DEADLINE)


def point_current(models_dir: Path, version: str) -> None:
    temporary = models_dir / "current.tmp"
    temporary.write_text(version + "\n", encoding="utf-8")
    os.replace(temporary, models_dir / CURRENT_FILE)  # as save_model does: never half a name


def add_version(models_dir: Path, source: str, name: str, corrupt: bool = False) -> Path:
    """Copy a version under a new name; ``corrupt`` flips a byte of its model file."""
    directory = models_dir / name
    shutil.copytree(models_dir / source, directory)
    manifest_path = directory / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["version"] = name
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if corrupt:
        model_path = directory / manifest["model_file"]
        data = bytearray(model_path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model_path.write_bytes(bytes(data))
    return directory
