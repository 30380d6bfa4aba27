"""Security basics: results only from the artifacts directory, never unpickled; the servers
the product starts listen on 127.0.0.1 (read from the kernel); no https -> http redirect."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from prefect._internal.result_records import ResultRecord
from prefect.serializers import PickleSerializer
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

import flows.prefect_api
from flows.mnist_flow import mnist_flow
from tasks.config import FlowConfig
from tasks.core.fetch import _MirrorError, _NoDowngradeRedirectHandler
from tasks.engine.cache import CacheStore

REPO_ROOT = Path(__file__).resolve().parents[2]


class Armed:
    """Unpickling this creates the file ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def _pickle_record(marker: Path, storage_key: str) -> bytes:
    payload = PickleSerializer(picklelib="pickle").dumps(Armed(marker)).decode()
    return json.dumps({"metadata": {"storage_key": storage_key, "expiration": None,
                                    "serializer": {"type": "pickle", "picklelib": "pickle"},
                                    "prefect_version": "3.9.1", "storage_block_id": None},
                       "result": payload}).encode()


def test_the_planted_payload_is_armed(tmp_path: Path) -> None:
    """Control: Prefect itself would unpickle such a record (so the next test means something)."""
    marker = tmp_path / "pwned"
    ResultRecord.deserialize(_pickle_record(marker, "x"))
    assert marker.exists()


def test_planted_pickle_records_are_never_loaded(tmp_path: Path, mnist_mirror: Path,
                                                 prefect_api_url: str) -> None:
    config = FlowConfig.model_validate({
        "train": {"steps": 20}, "data": {"mirror": str(mnist_mirror)},
        "artifacts_dir": tmp_path / "artifacts"})
    default_storage = tmp_path / "prefect-default-storage"
    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: default_storage}):
        first = mnist_flow(config)
    records = CacheStore(config.artifacts_dir.resolve(), "mnist").records
    assert records.is_relative_to(config.artifacts_dir.resolve())
    stored = sorted(p.name.split("-")[0] for p in records.iterdir())
    assert stored == ["download", "evaluate", "export", "intake", "preprocess", "promote",
                      "train", "validate"]
    assert not default_storage.exists(), "nothing may go to Prefect's default result folder"
    marker = tmp_path / "pwned"
    for record in records.iterdir():  # an attacker replaces every record with a pickle
        record.write_bytes(_pickle_record(marker, str(record)))
    second = mnist_flow(config)
    assert not marker.exists(), "a planted pickle was unpickled"
    assert {s["status"] for s in second["stages"]} == {"ran"}  # refused, so recomputed
    assert second["test_accuracy"] == first["test_accuracy"]
    third = mnist_flow(config)  # the honest records written by the rerun are served again
    assert {s["status"] for s in third["stages"]} == {"cached"}


def test_the_source_never_names_every_interface() -> None:
    """A cheap guard over the text; the next tests look at the sockets themselves."""
    assert flows.prefect_api.LOCAL_SERVER.startswith("http://127.0.0.1:")
    for path in [*REPO_ROOT.glob("flows/*.py"), *REPO_ROOT.glob("tasks/**/*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""["']0\.0\.0\.0["']""", text), f"{path} binds every interface"


# ---------------------------------------------------------------- the sockets servers listen on
LOOPBACK = {"127.0.0.1", "::1"}
CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")
DASK_DASHBOARD = re.compile(r"The Dask dashboard is available at http://([\d.]+):(\d+)/")


@dataclass(frozen=True)
class Listener:
    """One process of a tree and the TCP sockets it listens on, as ``(address, port)``."""

    pid: int
    command: str
    sockets: tuple[tuple[str, int], ...]


def listeners(root_pid: int) -> list[Listener]:
    """Every process in the tree of ``root_pid`` (it included) with its listening sockets,
    read from the kernel (``/proc/PID/net/tcp*`` through psutil)."""
    root = psutil.Process(root_pid)
    found = []
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            sockets = tuple(sorted((c.laddr.ip, c.laddr.port)
                                   for c in process.net_connections(kind="tcp")
                                   if c.status == psutil.CONN_LISTEN))
            found.append(Listener(process.pid, " ".join(process.cmdline()), sockets))
    return found


def off_loopback(found: list[Listener]) -> list[str]:
    """The listening sockets bound to anything but 127.0.0.1 or ::1 (0.0.0.0, ::, a LAN
    address, even 127.0.0.2), each named with its process."""
    return [f"{address}:{port} in {listener.pid} ({listener.command[:80]})"
            for listener in found for address, port in listener.sockets
            if address not in LOOPBACK]


LISTEN_IN_A_TREE = """
import socket, subprocess, sys
def listen(address):
    server = socket.socket()
    server.bind((address, 0))
    server.listen()
    return server
mine = listen("127.0.0.1")
child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
print(mine.getsockname()[1], child.stdout.readline().strip(), flush=True)
sys.stdin.read()
child.communicate("")
"""
LISTEN_ON_ANOTHER_ADDRESS = """
import socket, sys
server = socket.socket()
server.bind(("127.0.0.2", 0))  # loopback too, but not 127.0.0.1: the check must see it
server.listen()
print(server.getsockname()[1], flush=True)
sys.stdin.read()
"""


def test_the_socket_check_sees_every_process_of_the_tree_and_its_address() -> None:
    """Control: a child process listening on an address other than 127.0.0.1 is found and
    named (so the next test would fail for a server bound to 0.0.0.0)."""
    parent = subprocess.Popen([sys.executable, "-c", LISTEN_IN_A_TREE,
                               LISTEN_ON_ANOTHER_ADDRESS], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        own_port, child_port = map(int, parent.stdout.readline().split())
        found = listeners(parent.pid)
    finally:
        parent.communicate("", timeout=60)
    sockets = {socket for listener in found for socket in listener.sockets}
    assert {("127.0.0.1", own_port), ("127.0.0.2", child_port)} <= sockets
    [outside] = off_loopback(found)
    assert outside.startswith(f"127.0.0.2:{child_port} in ")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.3) as response:
            return response.status == 200
    except OSError:
        return False


def test_the_servers_of_a_dask_sweep_listen_on_loopback_only(tmp_path: Path,
                                                             mnist_mirror: Path) -> None:
    """``mnist-flow sweep --dask`` with no Prefect server configured starts every server the
    product starts: Prefect's temporary server (a uvicorn child), the local Dask cluster's
    scheduler, its dashboard and nannies (in the command's own process) and one worker
    process per ``--workers``. Once the cluster is up the command is paused (SIGSTOP) and the
    listening sockets of its whole process tree are read: each must be on 127.0.0.1 or ::1."""
    pytest.importorskip("prefect_dask", reason="sweeps on Dask need the [dask] extra")
    # A user's server already answering there is used instead of starting the temporary one
    temporary_server = not _answers(flows.prefect_api.LOCAL_SERVER + "/health")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), MNIST_MIRROR=str(mnist_mirror),
               PYTHONUNBUFFERED="1")
    sweep = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "sweep", "--dask", "--workers", "2", "--grid", "lr=0.001,0.002",
         "--epochs", "1", "--artifacts-dir", str(tmp_path / "artifacts")],
        cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert sweep.stdout is not None
    before = []
    try:
        for line in sweep.stdout:  # the dashboard line comes once the workers have registered
            before.append(line)
            if dashboard := DASK_DASHBOARD.search(line):
                break
        else:
            pytest.fail(f"the sweep ended before its Dask cluster was up:\n{''.join(before)}")
        command = psutil.Process(sweep.pid)
        command.suspend()  # nothing starts or stops while the tree is read
        try:
            found = listeners(sweep.pid)
        finally:
            command.resume()
        after, _ = sweep.communicate(timeout=600)  # a hang guard, not a timing measurement
    finally:
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()
    assert sweep.returncode == 0, "".join(before) + after
    assert off_loopback(found) == [], found
    own = next(listener for listener in found if listener.pid == sweep.pid)
    assert (dashboard.group(1), int(dashboard.group(2))) in own.sockets, found
    assert len(own.sockets) >= 2 + 2, found  # the scheduler, its dashboard, a nanny per worker
    workers = [listener for listener in found
               if "multiprocessing.spawn" in listener.command and listener.sockets]
    assert len(workers) >= 2, found
    prefect = [listener for listener in found if "uvicorn" in listener.command]
    if temporary_server:
        assert [len(listener.sockets) for listener in prefect] == [1], found


@pytest.mark.parametrize("target", ["http://mirror.example/x.gz", "ftp://mirror.example/x.gz",
                                    "file:///etc/passwd"])
def test_https_download_never_follows_a_downgrade(target: str) -> None:
    handler = _NoDowngradeRedirectHandler()
    request = urllib.request.Request("https://mirror.example/x.gz")
    with pytest.raises(_MirrorError, match="refused a redirect"):
        handler.redirect_request(request, None, 302, "Found", {}, target)
