"""Generated MySQL slow-query logs with planted statements (known counts, query times, databases
and hosts) and the known answers, for containers/python/worker.py over many logs and in parallel.

Also a command line, used by the e2e test and the benchmark:

    python3 test/python/test_sql_planted.py generate DIR [--logs N] [--bytes B] [--gzip K] [--seed S]

writes N logs (the last K of them gzip) into DIR and prints the known answers as JSON.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import random
import sys
import tempfile
import unittest

if __name__ != "__main__" or sys.argv[1:2] != ["generate"]:
    import support

    worker = support.load_worker("python")

BANNER = (
    "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\n"
    "Tcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\n"
    "Time                 Id Command    Argument\n"
)


def _in_list(rng: random.Random) -> str:
    values = ["new", "paid", "shipped", "it''s"]
    return ", ".join("'" + rng.choice(values) + "'" for _ in range(rng.randint(1, 4)))


# (fingerprint, statement maker, weight, base query time, databases, hosts as (name, ip), user)
TEMPLATES = [
    (
        "select * from orders where customer_id = ? and status in(?+)",
        lambda r: f"SELECT * FROM orders WHERE customer_id = {r.randint(1, 99999)} AND status IN ({_in_list(r)});",
        30, 1.5, ["shop", "shop_eu"], [("app1", "10.0.1.11"), ("app2", "10.0.1.12")], "shop",
    ),
    (
        "select date(created_at) as day, sum(total) from orders where created_at >= ? group by day",
        lambda r: f"SELECT DATE(created_at) AS day, SUM(total)\nFROM orders\nWHERE created_at >= '2026-{r.randint(1, 12):02d}-01'\nGROUP BY day;",
        4, 12.0, ["analytics"], [("bi1", "10.0.2.5")], "report",
    ),
    (
        "update carts set updated_at = now(), items = ? where id = ?",
        lambda r: f"UPDATE carts SET updated_at=NOW(),items={r.randint(0, 50)} WHERE id={r.randint(1, 10**6)} /* cart service */;",
        25, 0.4, ["shop"], [("app3", "10.0.1.13"), ("", "10.0.9.9")], "cart",
    ),
    (
        "insert into events (kind, payload) values(?+)",
        lambda r: "INSERT INTO events (kind, payload) VALUES " + ", ".join(
            f"('{r.choice(['click', 'view'])}', 'p;{r.randint(0, 9)}')" for _ in range(r.randint(1, 3))) + ";",
        20, 0.2, ["telemetry", "telemetry_b"], [("ingest1", "10.0.3.1"), ("ingest2", "10.0.3.2"), ("", "10.0.3.3")], "ingest",
    ),
    (
        "select id, user_id from sessions where token = ? and expires_at > ?",
        lambda r: f"select id, user_id from sessions where token = '{r.getrandbits(64):016x}' and expires_at > {r.randint(10**9, 2 * 10**9)};",
        15, 0.9, ["auth"], [("auth1", "10.0.4.1")], "auth",
    ),
    (
        "delete from audit_log where id < ? limit ?",
        lambda r: f"DELETE FROM audit_log\n WHERE id < {r.randint(1, 10**7)}\n LIMIT 1000;",
        5, 3.0, ["audit"], [("cron1", "10.0.5.1")], "cron",
    ),
]


def _extra_templates(count: int) -> list:
    """`count` more fingerprints over numbered tables, weight 1 each and mean times from 0.3 to
    8 s, so a benchmark's top 10 is not simply the six above."""
    extra = []
    for k in range(count):
        # Letters, not digits: pt-query-digest folds digits in identifiers (settings_1 → settings_?).
        table = "settings_" + "".join(chr(97 + (k // 26 ** i) % 26) for i in range(2))
        def make(r, table=table):
            return f"SELECT name, value FROM {table} WHERE id = {r.randint(1, 9999)} AND flag IN ({r.randint(0, 9)}, {r.randint(0, 9)});"
        extra.append((f"select name, value from {table} where id = ? and flag in(?+)", make, 1,
                      0.3 + (k * 7919 % 77) / 10, [f"cfg{k % 5}"], [(f"svc{k % 7}", f"10.1.0.{k % 7}")], "svc"))
    return extra


def _threads(templates):
    """One thread id per (template, database, host): a thread stays in one database, so its later
    entries (without `use`) take it from its first entry — across byte-range splits too."""
    threads = []
    next_id = 100
    for index, (_fp, _make, _w, _base, dbs, hosts, user) in enumerate(templates):
        for db in dbs:
            for host in hosts:
                threads.append((index, db, host, user, next_id))
                next_id += 1
    return threads


def generate(directory: str, logs: int = 3, target_bytes: int = 200_000, gz: int = 1, seed: int = 7,
             name: str = "mysql-slow-{}.log", extra: int = 0) -> tuple[list[str], dict]:
    """Writes `logs` logs of about `target_bytes` each into `directory` (the last `gz` gzip), with
    `extra` more fingerprints; returns (file names, the known answers)."""
    rng = random.Random(seed)
    templates = TEMPLATES + _extra_templates(extra)
    threads = _threads(templates)
    weights = [templates[t[0]][2] / (len(templates[t[0]][4]) * len(templates[t[0]][5])) for t in threads]
    known: dict[str, dict] = {fp: {"count": 0, "times": [], "rows_examined": 0, "databases": set(), "hosts": set()}
                              for fp, *_ in templates}
    names = []
    clock = 1795161600  # 2026-11-20T08:00:00Z
    os.makedirs(directory, exist_ok=True)
    for n in range(logs):
        filename = name.format(n + 1) + (".gz" if n >= logs - gz else "")
        path = os.path.join(directory, filename)
        raw = gzip.open(path, "wb", compresslevel=1) if filename.endswith(".gz") else open(path, "wb")
        seen_threads: set[int] = set()
        written = 0
        entries = 0
        with io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as out:
            out.write(BANNER)
            while written < target_bytes:
                index, db, (host, ip), user, thread = rng.choices(threads, weights)[0]
                fp, make, _w, base, *_rest = templates[index]
                clock += rng.randint(0, 2)
                query_time = round(base * (0.5 + rng.random()), 6)
                rows = rng.randint(1, 100_000)
                moment = f"2026-11-20T{(clock // 3600) % 24:02d}:{(clock // 60) % 60:02d}:{clock % 60:02d}.{rng.randint(0, 999999):06d}Z"
                lines = [
                    f"# Time: {moment}",
                    f"# User@Host: {user}[{user}] @ {host} [{ip}]  Id: {thread:6d}",
                    f"# Query_time: {query_time:.6f}  Lock_time: {rng.random() / 1000:.6f} Rows_sent: {rng.randint(0, 50)}  Rows_examined: {rows}",
                ]
                if thread not in seen_threads:  # `use` only on a thread's first entry in this log
                    lines.append(f"use {db};")
                    seen_threads.add(thread)
                lines.append(f"SET timestamp={clock};")
                lines.append(make(rng))
                text = "\n".join(lines) + "\n"
                entries += 1
                if entries % 5000 == 0:
                    text += BANNER  # a restart in the middle: threads keep their ids in our logs
                out.write(text)
                written += len(text)
                answer = known[fp]
                answer["count"] += 1
                answer["times"].append(query_time)
                answer["rows_examined"] += rows
                answer["databases"].add(db)
                answer["hosts"].add(host or ip)
        names.append(filename)
    queries = {}
    for fp, answer in known.items():
        times = sorted(answer["times"])
        if not times:
            continue
        queries[fp] = {
            "count": answer["count"],
            "total": round(math.fsum(times), 6),
            "p95": times[max(0, math.ceil(0.95 * len(times)) - 1)],
            "max": times[-1],
            "min": times[0],
            "rows_examined": answer["rows_examined"],
            "databases": sorted(answer["databases"]),
            "hosts": sorted(answer["hosts"]),
        }
    answers = {
        "entries": sum(q["count"] for q in queries.values()),
        "fingerprints": len(queries),
        "total_query_time": round(math.fsum(t for a in known.values() for t in a["times"]), 6),
        "queries": queries,
    }
    return names, answers


if __name__ != "__main__" or sys.argv[1:2] != ["generate"]:

    class PlantedTest(unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            cls.dir = tempfile.mkdtemp(prefix="sql-planted-")
            # Three plain logs and one gzip; small chunks so one log is split into many ranges.
            cls.names, cls.known = generate(cls.dir, logs=4, target_bytes=400_000, gz=1, extra=20)
            cls.paths = [os.path.join(cls.dir, n) for n in cls.names]

        @classmethod
        def tearDownClass(cls):
            for path in cls.paths:
                os.remove(path)
            os.rmdir(cls.dir)

        def check(self, report):
            known = self.known
            self.assertEqual(report["entries"], known["entries"])
            self.assertEqual(report["fingerprints"], known["fingerprints"])
            self.assertEqual(report["total_query_time"], known["total_query_time"])
            by_fp = {q["fingerprint"]: q for q in report["queries"]}
            self.assertEqual(sorted(by_fp), sorted(known["queries"]))
            for fp, answer in known["queries"].items():
                q = by_fp[fp]
                with self.subTest(fingerprint=fp):
                    self.assertEqual(q["count"], answer["count"])
                    self.assertEqual(q["query_time"]["total"], answer["total"])
                    self.assertEqual(q["query_time"]["p95"], answer["p95"])
                    self.assertEqual(q["query_time"]["max"], answer["max"])
                    self.assertEqual(q["query_time"]["min"], answer["min"])
                    self.assertEqual(q["rows_examined"]["total"], answer["rows_examined"])
                    self.assertEqual(q["databases"], answer["databases"])
                    self.assertEqual(q["hosts"], answer["hosts"])

        def test_known_answers_sequentially(self):
            self.check(worker.analyse_files(self.paths, top=50, workers=1))

        def test_parallel_over_byte_ranges_gives_the_same_report(self):
            sequential = worker.analyse_files(self.paths, top=50, workers=1)
            parallel = worker.analyse_files(self.paths, top=50, workers=2, chunk_bytes=64 * 1024)
            self.check(parallel)
            self.assertEqual(parallel, sequential)

        def test_ranges_split_at_entry_boundaries_cover_the_file(self):
            path = self.paths[0]
            ranges = worker.split_ranges(path, 50_000)
            self.assertGreater(len(ranges), 5)
            self.assertEqual(ranges[0][0], 0)
            self.assertEqual(ranges[-1][1], os.path.getsize(path))
            with open(path, "rb") as handle:
                for (start, end), (next_start, _) in zip(ranges, ranges[1:]):
                    self.assertEqual(end, next_start)
                    handle.seek(start)
                    if start:
                        self.assertEqual(handle.read(7), b"# Time:")

        def test_the_fixture_cut_into_tiny_ranges_gives_its_report(self):
            # Entries without `# Time:`, multi-line statements, restarts, `use` inherited by thread.
            fixture = os.path.join(support.FIXTURES, "slow-query.log")
            with open(fixture, encoding="utf-8") as handle:
                whole = worker.analyse(handle, top=20)
            self.assertGreater(len(worker.split_ranges(fixture, 200)), 10)
            split = worker.analyse_files([fixture], top=20, workers=2, chunk_bytes=200)
            self.assertEqual(split["queries"], whole["queries"])
            self.assertEqual((split["entries"], split["time_range"]), (whole["entries"], whole["time_range"]))

        def test_a_thread_database_from_an_earlier_range_reaches_a_later_fingerprint(self):
            def entry(thread, statement, use=None):
                return "\n".join(filter(None, [
                    "# Time: 2026-11-20T08:00:00.000000Z",
                    f"# User@Host: a[a] @ h1 [10.0.0.1]  Id: {thread}",
                    "# Query_time: 1.000000  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 1",
                    f"use {use};" if use else None,
                    statement,
                ])) + "\n"
            text = entry(7, "SELECT 1;", use="inventory") + entry(8, "SELECT 2;", use="other") * 50
            text += entry(7, "SELECT * FROM stock WHERE id = 5;") + entry(9, "SELECT * FROM stock WHERE id = 6;")
            path = os.path.join(self.dir, "threads.log")
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
            self.addCleanup(os.remove, path)
            self.assertGreater(len(worker.split_ranges(path, 500)), 5)
            for workers, chunk in ((1, 1 << 20), (2, 500)):
                report = worker.analyse_files([path], workers=workers, chunk_bytes=chunk)
                stock = next(q for q in report["queries"] if q["fingerprint"] == "select * from stock where id = ?")
                self.assertEqual(stock["databases"], ["inventory"], (workers, chunk))

        def test_same_report_as_one_sequential_parse_of_each_log(self):
            # The parallel merge equals the single-stream analyse() over the concatenated logs'
            # entries, log by log (each log starts with fresh thread → database state).
            for path in self.paths[:1]:
                with open(path, encoding="utf-8") as handle:
                    whole = worker.analyse(handle, top=50)
                split = worker.analyse_files([path], top=50, workers=2, chunk_bytes=32 * 1024)
                self.assertEqual(split["queries"], whole["queries"])
                self.assertEqual(split["entries"], whole["entries"])


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="write generated slow-query logs; print the known answers")
    parser.add_argument("command", choices=["generate"])
    parser.add_argument("directory")
    parser.add_argument("--logs", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=200_000)
    parser.add_argument("--gzip", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--extra", type=int, default=0, help="more fingerprints (numbered tables)")
    args = parser.parse_args(argv)
    names, answers = generate(args.directory, args.logs, args.bytes, args.gzip, args.seed, extra=args.extra)
    json.dump({"files": names, **answers}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["generate"]:
        main(sys.argv[1:])
    else:
        unittest.main()
