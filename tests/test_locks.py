"""The flock lock manager: exclusive across holders, released by a process that dies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tasks.engine.locks import FlockLockManager


def test_a_lock_is_exclusive_until_released(tmp_path: Path) -> None:
    first, second = FlockLockManager(tmp_path), FlockLockManager(tmp_path)
    assert first.acquire_lock("k", holder="a")
    assert first.is_lock_holder("k", "a") and not first.is_lock_holder("k", "b")
    assert second.is_locked("k")
    assert not second.acquire_lock("k", holder="b", acquire_timeout=0.3)
    first.release_lock("k", holder="a")
    assert second.acquire_lock("k", holder="b", acquire_timeout=0.3)
    assert not second.is_locked("other")


def test_a_killed_holder_does_not_block_the_next_run(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; "
        "from tasks.engine.locks import FlockLockManager;"
        f"m = FlockLockManager(Path({str(tmp_path)!r})); m.acquire_lock('k', 'dead');"
        "print('held', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    manager = FlockLockManager(tmp_path)
    assert manager.is_locked("k")
    holder.kill()
    holder.wait(timeout=10)
    assert manager.acquire_lock("k", holder="next", acquire_timeout=5)
