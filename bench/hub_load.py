"""How many learners one machine's hub holds: N learners run chapter 10 at once, measured.

    sudo .venv/bin/python bench/hub_load.py --learners 8     # as root: it makes Linux users

A class of N (plus an admin) on a private SeaweedFS in a temporary S3LAB_HOME, on 127.0.0.1:
every learner's server is started through the hub's API, then each runs chapter 10's cells
(all but the closing tidy-up) in their own kernel, all at the same time. A sampler reads, every
half second, the memory (RSS) and CPU time of every process of the learners, of the hub and its
proxy, and of SeaweedFS. Printed: per learner memory (idle server, peak while running) and CPU
seconds per run, the wall time, and the learners per machine that memory and CPU allow on a
2-core, 24 GB machine. Everything is cleaned up at the end (``classroom cleanup``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GIB = 1024**3


class Sampler(threading.Thread):
    """Peak memory and the last CPU time seen of every process of ``uids`` and ``pids``."""

    def __init__(self, uids: set[int], pids: set[int]) -> None:
        super().__init__(daemon=True)
        self.uids, self.pids = uids, pids
        self.cpu: dict[int, float] = {}  # pid -> user+system+children, the last seen
        self.peak_learners = 0
        self.peak_all = 0
        self.done = threading.Event()

    def sample(self) -> None:
        """One reading of every process of the class."""
        learners = total = 0
        for proc in psutil.process_iter(["uids"]):
            with contextlib.suppress(psutil.Error):
                mine = proc.info["uids"] and proc.info["uids"].real in self.uids
                if not mine and proc.pid not in self.pids:
                    continue
                rss = proc.memory_info().rss
                t = proc.cpu_times()
                self.cpu[proc.pid] = t.user + t.system + t.children_user + t.children_system
                total += rss
                learners += rss if mine else 0
        self.peak_learners = max(self.peak_learners, learners)
        self.peak_all = max(self.peak_all, total)

    def run(self) -> None:
        """Sample until told to stop."""
        while not self.done.wait(0.5):
            self.sample()


def main() -> int:
    """Measure a class of ``--learners`` running chapter 10 at once; print and save the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hub_load.json")
    args = parser.parse_args()
    os.environ["S3LAB_HOME"] = tempfile.mkdtemp(prefix="s3lab-hubload-")
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    from s3lab import classroom, sandbox
    from tests.support import hub as through_hub

    tag = os.urandom(2).hex()
    names = [f"lo{tag}x{n:02d}" for n in range(1, args.learners + 1)]
    cells = through_hub.code_cells_through(
        ROOT / "notebooks" / "10_first_bucket.ipynb", 's3lab.check("first-bucket")'
    )
    result: dict[str, object] = {"learners": args.learners, "cpus": psutil.cpu_count()}
    try:
        room = classroom.start(names)
        served = classroom.start_hub(room, admin=f"lo{tag}t")
        import pwd

        uids = {pwd.getpwnam(n).pw_uid for n in names}
        box = sandbox.running("server", thorough=False)
        others = {served.process["pid"], box.pid if box else 0}
        others |= {c.pid for c in psutil.Process(served.process["pid"]).children(recursive=True)}
        began = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(lambda n: through_hub.start_server(served, n), names))
        result["servers_started_s"] = round(time.monotonic() - began, 1)
        idle = Sampler(uids, others)
        idle.sample()
        result["idle_server_mib_per_learner"] = round(idle.peak_learners / len(names) / 2**20)
        sampler = Sampler(uids, others)
        sampler.sample()
        before = sum(sampler.cpu.values())
        sampler.start()
        began = time.monotonic()

        def run(name: str) -> str:
            try:
                return through_hub.run_cells(served, name, cells)[-1]
            except Exception as exc:  # counted: an overloaded machine loses kernels
                return f"failed: {type(exc).__name__}: {exc}"

        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            outputs = list(pool.map(run, names))
        result["wall_s"] = round(time.monotonic() - began, 1)
        sampler.done.set()
        sampler.join()
        result["done"] = sum("first-bucket: done" in out for out in outputs)
        result["failed"] = sorted({out for out in outputs if out.startswith("failed")})
        result["load_average_1min"] = os.getloadavg()[0]
        cpu = sum(sampler.cpu.values()) - before
        result["cpu_s_per_run"] = round(cpu / len(names), 2)
        result["peak_mib_per_learner"] = round(sampler.peak_learners / len(names) / 2**20)
        result["peak_class_gib"] = round(sampler.peak_all / GIB, 2)
        # 24 GB, 80 % of it for the class (the rest: the system, SeaweedFS, the hub)
        by_memory = int(0.8 * 24e9 / (sampler.peak_learners / len(names)))
        # everyone runs the whole chapter within the same minute: 2 cores give 120 CPU-s
        by_cpu = int(2 * 60 / (cpu / len(names)))
        result.update({"by_memory": by_memory, "by_cpu_one_minute": by_cpu})
    finally:
        with contextlib.suppress(Exception):
            classroom.cleanup()
        with contextlib.suppress(Exception):
            sandbox.stop("server")
        shutil.rmtree(os.environ["S3LAB_HOME"], ignore_errors=True)
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
