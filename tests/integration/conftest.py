"""Real processes for the integration tests: a Prefect server, PostgreSQL, serve, a worker.

Every process runs in its own session (process group) and is stopped by its PID in the
fixture's ``finally``, so a failing test leaves nothing running. One SQLite Prefect server is
shared by the whole session; what a test needs to run on it (a served deployment and its two
runs) is built once by session fixtures and only asserted on by the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
FLOW_SCRIPT = str(REPO_ROOT / "flows" / "mnist_flow.py")
QUICK = ("--preset", "original", "--steps", "400")
CRON = "0 3 * * 0"
METRICS_KEY = "mnist-metrics"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Process:
    """A started command, its combined output in ``log``, stopped by :func:`stop`."""

    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start(cmd: list[str], *, env: dict[str, str], log: Path, cwd: Path = REPO_ROOT,
          user: str | None = None) -> Process:
    """Start ``cmd`` in a new session (its own process group), output to ``log``."""
    with log.open("wb") as out:
        popen = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True, user=user)
    return Process(popen, log)


def stop(process: Process, timeout: float = 10.0, first: int = signal.SIGTERM) -> None:
    """Signal the process group of ``process`` by its PID (``first``, then SIGKILL)."""
    pid = process.popen.pid
    for sig, wait in ((first, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(wait)
            break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # children that outlived their leader


def wait_for(check: Any, what: str, process: Process | None = None,
             timeout: float = 90.0) -> Any:
    """Poll ``check()`` until it returns something truthy; fail with the process output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if result := check():
                return result
        if process and process.popen.poll() is not None:
            pytest.fail(f"{what}: process exited {process.popen.returncode}:\n"
                        f"{process.output()[-3000:]}")
        time.sleep(0.2)
    tail = process.output()[-3000:] if process else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{tail}")


@dataclass
class PrefectServer:
    """A running ``prefect server start`` and the environment that points at it."""

    url: str
    env: dict[str, str]
    startup_seconds: float
    process: Process
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.url + "/api"

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One REST call; a 503 (SQLite busy under load) is retried a few times."""
        for _ in range(5):
            response = httpx.request(method, self.api + path, json=body, timeout=10)
            if response.status_code != 503:
                break
            time.sleep(0.5)
        response.raise_for_status()
        return response.json() if response.content else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body or {})

    def patch(self, path: str, body: dict[str, Any]) -> None:
        self.request("PATCH", path, body)

    def deployment(self, name: str, flow: str = "mnist-flow") -> dict[str, Any]:
        return self.get(f"/deployments/name/{flow}/{name}")

    def task_runs(self, flow_run_id: str) -> list[dict[str, Any]]:
        return self.post("/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})

    def metrics_artifacts(self, flow_run_id: str) -> list[dict[str, Any]]:
        return self.post("/artifacts/filter", {"artifacts": {
            "key": {"any_": [METRICS_KEY]}, "flow_run_id": {"any_": [flow_run_id]}}})

    def scheduled_runs(self, deployment_id: str) -> list[dict[str, Any]]:
        return self.post("/flow_runs/filter", {
            "deployments": {"id": {"any_": [deployment_id]}},
            "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}})

    def cli(self, *args: str, timeout: float = 120, cwd: Path = REPO_ROOT,
            ) -> subprocess.CompletedProcess[str]:
        """``prefect ARGS`` against this server; output in ``.stdout``."""
        return subprocess.run([PREFECT, "--no-prompt", *args], env=self.env, cwd=cwd,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, check=False)

    def run_deployment(self, name: str, *params: str) -> dict[str, Any]:
        """``prefect deployment run 'mnist-flow/NAME' --watch``: the finished flow run,
        with ``wall_seconds`` and the command's ``output``."""
        started = time.perf_counter()
        done = self.cli("deployment", "run", f"mnist-flow/{name}", "--watch", *params)
        seconds = time.perf_counter() - started
        found = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
        assert found, done.stdout
        run = self.get(f"/flow_runs/{found.group(1)}")
        return {**run, "wall_seconds": seconds, "output": done.stdout,
                "exit_code": done.returncode}


def prefect_env(home: Path, api_url: str, mirror: Path) -> dict[str, str]:
    """The environment every process of one server's tests runs with."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    return {**env, "PREFECT_HOME": str(home), "PREFECT_API_URL": api_url,
            "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_URL": api_url.removesuffix("/api"),
            "MNIST_MIRROR": str(mirror), "PYTHONUNBUFFERED": "1",
            # seconds, not the default 10-60, between polls: runs start at once
            "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1"}


@contextlib.contextmanager
def prefect_server(root: Path, mirror: Path, **settings: str) -> Iterator[PrefectServer]:
    """``prefect server start`` on 127.0.0.1 and a free port, ``PREFECT_HOME`` under ``root``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**prefect_env(root / "prefect-home", url + "/api", mirror), **settings}
    started = time.perf_counter()
    process = start([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                    env=env, log=root / "server.log")
    try:
        wait_for(lambda: httpx.get(url + "/api/health", timeout=1).status_code == 200,
                 "the Prefect server to answer /api/health", process, timeout=120)
        yield PrefectServer(url, env, time.perf_counter() - started, process)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory,
                  mnist_mirror: Path) -> Iterator[PrefectServer]:
    """One Prefect server with its default SQLite database for the session."""
    root = tmp_path_factory.mktemp("prefect-sqlite")
    with prefect_server(root, mnist_mirror) as server:
        server.timings["server_start_seconds"] = server.startup_seconds
        yield server
        # measured numbers for the README / report; not asserted (timing is no test outcome)
        (root / "timings.json").write_text(json.dumps(server.timings, indent=1))


@pytest.fixture(scope="session")
def shared_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts-served")


@contextlib.contextmanager
def serving(server: PrefectServer, name: str, artifacts: Path, log: Path,
            *options: str, training: tuple[str, ...] = QUICK) -> Iterator[Process]:
    """``python flows/mnist_flow.py serve --cron CRON --name NAME`` until the block ends;
    ``training`` replaces the quick settings (the CLI refuses settings a training ignores, so
    they are not stacked)."""
    process = start([sys.executable, FLOW_SCRIPT, "serve", "--cron", CRON, "--name", name,
                     *training, "--artifacts-dir", str(artifacts), *options],
                    env=server.env, log=log)
    try:
        wait_for(lambda: "being served" in process.output(), f"serve {name} to start", process)
        yield process
    finally:
        stop(process)


@pytest.fixture(scope="session")
def served_runs(sqlite_server: PrefectServer, shared_artifacts: Path,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The ``serve`` path: deployment ``it-serve`` and two triggered runs of it."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(sqlite_server, "it-serve", shared_artifacts, log) as process:
        first = sqlite_server.run_deployment("it-serve")
        second = sqlite_server.run_deployment("it-serve")
        sqlite_server.timings.update(serve_run_seconds=first["wall_seconds"],
                                     serve_cached_run_seconds=second["wall_seconds"])
        yield {"first": first, "second": second, "process": process,
               "deployment": sqlite_server.deployment("it-serve")}


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@contextlib.contextmanager
def postgres(root: Path) -> Iterator[str]:
    """A throwaway PostgreSQL on 127.0.0.1 and a free port; yields its asyncpg URL."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install "
                    "postgresql; .ci/run does)")
    # PostgreSQL refuses to run as root: run it as the package's `postgres` user, in a
    # folder of its own (pytest's tmp folders are private to root).
    user = "postgres" if os.geteuid() == 0 else None
    home = Path(tempfile.mkdtemp(prefix="mnist-flow-pg-"))
    data, sockets = home / "data", home / "sockets"
    sockets.mkdir()
    if user:
        shutil.chown(home, user)
        shutil.chown(sockets, user)
    try:
        with _postgres_server(bin_dir, data, sockets, root, user) as url:
            yield url
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def _postgres_server(bin_dir: Path, data: Path, sockets: Path, root: Path,
                     user: str | None) -> Iterator[str]:
    subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", "prefect", "-A", "trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True, user=user,
                   cwd=sockets)
    port = free_port()
    process = start([str(bin_dir / "postgres"), "-D", str(data), "-h", "127.0.0.1",
                     "-p", str(port), "-k", str(sockets), "-c", "fsync=off"],
                    env=dict(os.environ), log=root / "postgres.log", cwd=sockets, user=user)
    try:
        ready = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
        wait_for(lambda: subprocess.run(ready, check=False).returncode == 0,
                 "PostgreSQL to accept connections", process)
        yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/postgres"
    finally:
        stop(process, first=signal.SIGINT)  # "fast" shutdown: does not wait for clients
