"""Execute the book's notebooks side by side, each lane on sandboxes of its own, into the cache.

jupyter-book (myst-nb) executes the notebooks of a cold build one after another, and most of a
notebook's time is one core starting an ``aws`` or ``s3lab`` command. This script runs them in
lanes instead (one per core, at most four): each lane is a process with its own ``S3LAB_HOME``,
so its own moto and SeaweedFS, and a chapter that lists every bucket sees only its own. Each
notebook is executed exactly as myst-nb's ``cache`` mode would (jupyter-cache's
``single_nb_execution``, in the notebook's folder, with ``_config.yml``'s timeout), and the
executed copy goes into ``_build/.jupyter_cache``; the build that follows then finds every
notebook there and executes none.

A notebook that fails is not cached: the build executes it again and reports the failure the
usual way, as a warning that fails the build.

    python scripts/book_execute.py [BUILD_DIR]         # default: _build
    python scripts/book_execute.py --lane OUT NB...    # one lane (inside its sandboxes)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from book_cache import to_execute  # noqa: E402

MOST_LANES = 4  # each lane runs two servers and a kernel: more would only crowd the cores
#: A notebook spends much of its time waiting (a cache's TTL, a server starting, a fresh
#: process's imports), so one lane more than the cores keeps them busy. Measured on 2 cores,
#: back to back: 2 lanes 133 s, 3 lanes 101 s, 4 lanes 101 s.
LANES_OVER_CORES = 1


def say(line: str) -> None:
    """Progress on stderr, where the build's own goes."""
    print(line, file=sys.stderr, flush=True)


def estimate(path: Path) -> float:
    """Seconds the notebook took when its stored outputs were made (cell count without times).

    The committed notebooks keep each cell's execution times; they split the lanes evenly.
    """
    cells = nbformat.read(path, as_version=4).cells
    times = []
    for cell in cells:
        stamps = cell.get("metadata", {}).get("execution", {})
        times += [stamps[k] for k in ("iopub.status.busy", "shell.execute_reply") if k in stamps]
    if len(times) < 2:
        return float(len(cells))
    when = [_dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times]
    return (max(when) - min(when)).total_seconds()


def lanes_for(notebooks: list[Path], count: int) -> list[list[Path]]:
    """Share the notebooks among ``count`` lanes, the longest first to the least loaded lane."""
    lanes: list[list[Path]] = [[] for _ in range(count)]
    load = [0.0] * count
    for seconds, path in sorted(((estimate(p), p) for p in notebooks), reverse=True):
        lane = load.index(min(load))
        lanes[lane].append(path)
        load[lane] += seconds
    return [lane for lane in lanes if lane]


def execution_settings() -> dict[str, object]:
    """``_config.yml``'s timeout and allow_errors: what the build would execute with."""
    execute = yaml.safe_load((ROOT / "_config.yml").read_text()).get("execute", {})
    return {"timeout": execute.get("timeout", 30), "allow_errors": execute.get("allow_errors")}


def run_lane(out: Path, notebooks: list[Path]) -> int:
    """Execute ``notebooks`` one after another; each executed copy and its time go in ``out``."""
    from jupyter_cache.executors.utils import single_nb_execution

    settings = execution_settings()
    failed = 0
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        result = single_nb_execution(
            notebook,
            cwd=str(path.parent),
            timeout=settings["timeout"],
            allow_errors=bool(settings["allow_errors"]),
            meta_override=True,
        )
        name = path.relative_to(ROOT)
        if result.err is not None:
            failed += 1
            last = (result.exc_string or repr(result.err)).strip().splitlines()[-1:]
            why = " ".join(last)[:200]
            say(f"    {name}: failed ({why}); the build runs it again to report it")
            continue
        nbformat.write(notebook, out / path.name)
        (out / f"{path.name}.json").write_text(json.dumps({"seconds": result.time}))
        say(f"    {name}: executed in {result.time:.1f} s")
    return 1 if failed else 0


def execute(build_dir: Path) -> int:
    """Execute the notebooks the cache lacks in lanes, and cache each one that succeeded."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    todo = to_execute(build_dir)
    count = min(len(todo), (os.cpu_count() or 1) + LANES_OVER_CORES, MOST_LANES)
    if count < 2:
        return 0  # one lane is what the build itself does: nothing to gain
    lanes = lanes_for(todo, count)
    say(f"executing {len(todo)} notebooks in {len(lanes)} lanes, each on sandboxes of its own")
    started = time.perf_counter()
    out = build_dir / "executed"
    shutil.rmtree(out, ignore_errors=True)  # an interrupted run's copies are of older code
    out.mkdir(parents=True)
    procs = []
    for number, lane in enumerate(lanes, 1):
        env = {**os.environ, "S3LAB_HOME": str(build_dir / f"sandbox-lane-{number}")}
        command = ["s3lab", "sandbox", "run", "--backend", "all", "--"]
        command += [sys.executable, __file__, "--lane", str(out), *map(str, lane)]
        procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
    for proc in procs:
        proc.wait()
    cache = get_cache(str(build_dir / ".jupyter_cache"))
    cached = 0
    for path in todo:
        executed, timing = out / path.name, out / f"{path.name}.json"
        if not (executed.exists() and timing.exists()):
            continue
        record = cache.add_nb_to_project(str(path))
        seconds = json.loads(timing.read_text())["seconds"]
        bundle = CacheBundleIn(
            nbformat.read(executed, as_version=4), record.uri, data={"execution_seconds": seconds}
        )
        cache.cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
        executed.unlink()
        timing.unlink()
        cached += 1
    say(f"executed {cached} of {len(todo)} in {time.perf_counter() - started:.0f} s")
    return 0


def main(argv: list[str]) -> int:
    """One lane (``--lane OUT NB...``), or all of them for the build folder (default _build)."""
    if argv[:1] == ["--lane"]:
        return run_lane(Path(argv[1]), [Path(p).resolve() for p in argv[2:]])
    return execute((Path(argv[0]) if argv else ROOT / "_build").resolve())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
