"""The page's read workers (forked processes that read nights) never outlive the server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

SERVER = """
import os
from sleeplm.app.service import start_read_workers
pool = start_read_workers(2)
print(*sorted({pool.submit(os.getpid).result() for _ in range(8)}), flush=True)
os._exit(0)  # gone without shutting the pool down, as a server killed by a signal
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_read_workers_end_when_the_server_process_is_gone() -> None:
    out = subprocess.run([sys.executable, "-c", SERVER], capture_output=True, text=True, timeout=300, check=True)
    workers = [int(p) for p in out.stdout.split()]
    assert workers and os.getpid() not in workers
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in workers)


def test_read_workers_run_below_the_server_priority() -> None:
    from sleeplm.app.service import READ_WORKER_NICENESS, start_read_workers

    pool = start_read_workers(1)
    try:
        assert pool.submit(os.nice, 0).result() == min(19, os.nice(0) + READ_WORKER_NICENESS)  # 19: the lowest
    finally:
        pool.shutdown()
