#!/usr/bin/env python3
"""Benchmark of sql-log-analysis (containers/python/worker.py) against pt-query-digest, by hand,
not part of the test suites: `npx tsx bench/sql-analysis.ts [--gb 1] [--processes N]` or
`python3 bench/sql-analysis.py ...`.

Generates a slow-query log of about `--gb` GB once (test/python/test_sql_planted.py's generator
with 300 more fingerprints, cached under the OS temp dir), then on the same file runs, each in
its own process, one after the other:

1. the worker's analysis (`analyse_files`, what the task runs after its download) in one process;
2. the same in N parser processes (default: the CPUs this process may use);
3. `pt-query-digest --output json --limit 10`, when it is installed (Debian: percona-toolkit).

and prints per run: wall seconds, MB/s, CPU seconds, peak resident memory (for the worker also of
its parser processes), the speed ratio to pt-query-digest, and whether the top 10 fingerprints
(compared with whitespace removed: pt writes `a=?`, the worker `a = ?`) and their counts agree,
also with the generator's known counts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# Run in a child: the worker's analysis, its timings and peak memory, the top 10 as JSON.
WORKER_RUN = r"""
import json, os, resource, sys, time, importlib.util
sys.path.insert(0, os.path.join(sys.argv[1], "runtime", "python"))
spec = importlib.util.spec_from_file_location("sql_worker", os.path.join(sys.argv[1], "containers", "python", "worker.py"))
worker = importlib.util.module_from_spec(spec); spec.loader.exec_module(worker)
started, cpu = time.monotonic(), time.process_time()
report = worker.analyse_files([sys.argv[2]], top=10, workers=int(sys.argv[3]))
wall = time.monotonic() - started
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "wall": wall,
    "cpu": time.process_time() - cpu + children.ru_utime + children.ru_stime,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "child_rss_mb": children.ru_maxrss / 1024,
    "entries": report["entries"],
    "top": [[q["fingerprint"], q["count"], q["query_time"]["total"]] for q in report["queries"]],
}))
"""


def log_file(gb: float) -> tuple[str, dict]:
    directory = os.path.join(tempfile.gettempdir(), "asynctask-bench", f"sql-{gb:g}gb")
    answers = os.path.join(directory, "answers.json")
    path = os.path.join(directory, "mysql-slow-1.log")
    if not (os.path.exists(answers) and os.path.exists(path)):
        print(f"generating a {gb:g} GB slow-query log in {directory} (once) …", flush=True)
        shutil.rmtree(directory, ignore_errors=True)
        sys.path.insert(0, os.path.join(ROOT, "test", "python"))
        from test_sql_planted import generate  # noqa: E402

        names, known = generate(directory, logs=1, target_bytes=int(gb * 1e9), gz=0, seed=2026, extra=300)
        with open(answers + ".part", "w") as out:
            json.dump(known, out)
        os.replace(answers + ".part", answers)
    with open(answers) as handle:
        return path, json.load(handle)


def run_worker(path: str, processes: int) -> dict:
    out = subprocess.run([sys.executable, "-c", WORKER_RUN, ROOT, path, str(processes)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def run_pt(path: str) -> dict | None:
    binary = shutil.which("pt-query-digest")
    if not binary:
        return None
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen([binary, "--output", "json", "--limit", "10", path], stdout=out,
                                 stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        if child.returncode != 0:
            raise RuntimeError(f"pt-query-digest exited with code {child.returncode}")
        out.seek(0)
        text = out.read()
    data = json.loads(text[text.index("{"):])
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "child_rss_mb": 0.0,
        "top": [[c["fingerprint"], int(c["query_count"]), float(c["metrics"]["Query_time"]["sum"])]
                for c in data["classes"][:10]],
    }


def squash(text: str) -> str:
    return "".join(text.split()).lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the generated log (default 1)")
    parser.add_argument("--processes", type=int, default=0, help="parser processes (default: the usable CPUs)")
    args = parser.parse_args()
    processes = args.processes or len(os.sched_getaffinity(0))
    path, known = log_file(args.gb)
    size_mb = os.path.getsize(path) / 1e6
    print(f"log: {path}, {size_mb:.0f} MB, {known['entries']} entries, {known['fingerprints']} fingerprints; "
          f"{len(os.sched_getaffinity(0))} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    runs: list[tuple[str, dict]] = []
    for label, procs in (("worker, 1 process", 1), (f"worker, {processes} processes", processes)):
        runs.append((label, run_worker(path, procs)))
        print(f"  {label}: {runs[-1][1]['wall']:.1f} s", flush=True)
    pt = run_pt(path)
    if pt:
        runs.append(("pt-query-digest", pt))
        print(f"  pt-query-digest: {pt['wall']:.1f} s", flush=True)
    else:
        print("  pt-query-digest: not installed (apt-get install -y percona-toolkit), no comparison")
    known_top = sorted(known["queries"].items(), key=lambda kv: -kv[1]["total"])[:10]
    known_counts = {squash(fp): q["count"] for fp, q in known_top}
    print()
    print(f"{'run':<24}{'wall s':>8}{'MB/s':>8}{'CPU s':>8}{'peak RSS MB':>22}{'× pt':>7}  top 10 = known  top 10 = pt")
    for label, run in runs:
        top = {squash(fp): count for fp, count, _ in run["top"]}
        rss = f"{run['rss_mb']:.0f}" + (f" (+{run['child_rss_mb']:.0f}/parser)" if run["child_rss_mb"] else "")
        ratio = f"{pt['wall'] / run['wall']:.2f}" if pt else "-"
        versus_pt = ("yes" if top == {squash(fp): c for fp, c, _ in pt["top"]} else "NO") if pt else "-"
        print(f"{label:<24}{run['wall']:>8.1f}{size_mb / run['wall']:>8.1f}{run['cpu']:>8.1f}{rss:>22}{ratio:>7}"
              f"  {'yes' if top == known_counts else 'NO':<14}  {versus_pt}")
    if pt:
        ours = {squash(fp): (c, t) for fp, c, t in runs[1][1]["top"]}
        for fp, count, total in pt["top"]:
            mine = ours.get(squash(fp))
            if mine is None or mine[0] != count or abs(mine[1] - total) > 1e-3 * max(1.0, total):
                print(f"  differs: {fp!r}: pt {count} / {total:.3f} s, worker {mine}")


if __name__ == "__main__":
    main()
