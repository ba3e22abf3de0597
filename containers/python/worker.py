"""sql-log-analysis: MySQL slow-query-log analysis as an asynctask container task (the article's
Python data analysis of the database inspection platform).

Payload (exactly one of ``object`` and ``prefix``)::

    {"bucket": "my-bucket", "object": "logs/slow-query.log", "report_key": "reports/x.json", "top": 20}
    {"bucket": "my-bucket", "prefix": "logs/2026-11-20/"}

Downloads the log, or every log under the prefix (plain, or gzip when the key ends in .gz), to
disk, parses every entry (``# Time:``, ``# User@Host:``, ``# Query_time: … Lock_time: …
Rows_sent: … Rows_examined: …``, ``use db;``, ``SET timestamp=…;`` and the statement, possibly
over several lines), groups the statements by fingerprint (lower case, literals → ``?``, IN /
VALUES lists collapsed, whitespace collapsed) and aggregates per fingerprint over all logs:
count, total / mean / p95 / max query time, lock time, rows examined and sent, databases, hosts
and users. p95 is the nearest-rank percentile: the ceil(0.95 × n)-th smallest value.

Logs are read in blocks, never whole. On several CPUs the work is split into units — a gzip log,
or a byte range of a plain log that starts at a ``# Time:`` line (every entry header block
begins there, so a range holds whole entries) — parsed in forked processes and merged in log and
range order, which gives exactly the report of one sequential pass: query and lock times are
kept as arrays of doubles (p95 and fsum need the values, 16 bytes an entry), and an entry whose
database comes from an earlier ``use`` of its thread in a previous range is resolved at the merge.

The report (sorted by total query time, the top N fingerprints) is written as JSON to
``report_key`` (default ``reports/<object basename without extension>.json``, or
``reports/<last prefix segment>.json``) in the same bucket, only once every log is parsed. The
task result is a summary: logs, entries, fingerprints, report location, top 5.

A bad payload, a missing bucket or object, an empty prefix and an empty, unreadable or
non-slow-query log raise PermanentError subclasses (PayloadError, LogError): the task fails
without its retries. Any other error (throttling, a 5xx, the network) is retried.
"""

from __future__ import annotations

import array
import datetime as _dt
import gzip
import json
import math
import multiprocessing
import os
import queue
import re
import shutil
import sys
import tempfile
import zlib

# In the image the helper sits next to this file (/app); in the repository it is runtime/python.
_HERE = os.path.dirname(os.path.abspath(__file__))
for _path in (os.path.join(_HERE, "..", "..", "runtime", "python"), _HERE):
    if os.path.isfile(os.path.join(_path, "asynctask_runtime.py")):
        sys.path.insert(0, os.path.abspath(_path))

from asynctask_runtime import S3_NOT_FOUND_CODES, AwsError, PermanentError, run  # noqa: E402

TOP_DEFAULT = 20
TOP_MAX = 1000
SUMMARY_TOP = 5
PROGRESS_EVERY_LINES = 20_000
# A plain log is cut into byte ranges of about this size (each parsed by one process).
CHUNK_BYTES = 32 * 1024 * 1024
# Logs are read in blocks of this size and split into lines; a line is never cut.
READ_BLOCK = 1024 * 1024
# Parser processes: SQL_ANALYSIS_PROCESSES, or the CPUs this process may run on.
PROCESSES_ENV = "SQL_ANALYSIS_PROCESSES"


class PayloadError(PermanentError, ValueError):
    """The payload is not a valid analysis request (not retried)."""


class LogError(PermanentError, ValueError):
    """A log cannot be analysed (missing, empty, unreadable, not a slow-query log): not retried."""


def _not_found(error: AwsError) -> LogError | None:
    """A missing bucket or object as a LogError (permanent); None for any other AWS error."""
    return LogError(str(error)) if error.code in S3_NOT_FOUND_CODES else None


def validate(payload) -> dict:
    if not isinstance(payload, dict):
        raise PayloadError(
            "payload must be a JSON object {bucket, object | prefix, report_key?, top?} "
            f"(given {type(payload).__name__})"
        )
    errors = []
    bucket = payload.get("bucket")
    if not isinstance(bucket, str) or bucket.strip() == "":
        errors.append(f"bucket must be a non-empty string (given {bucket!r})")
    has_object, has_prefix = "object" in payload, "prefix" in payload
    if has_object and has_prefix:
        errors.append(f"give exactly one of object and prefix (given object {payload['object']!r} "
                      f"and prefix {payload['prefix']!r})")
    elif not has_object and not has_prefix:
        errors.append("object (one log) or prefix (every log under it) is required (given neither)")
    for field in ("object", "prefix"):
        value = payload.get(field)
        if field in payload and (not isinstance(value, str) or value.strip() == ""):
            errors.append(f"{field} must be a non-empty string (given {value!r})")
    report_key = payload.get("report_key")
    if report_key is not None and (not isinstance(report_key, str) or report_key.strip("/ ") == ""):
        errors.append(f"report_key must be a non-empty S3 key (given {report_key!r})")
    top = payload.get("top", TOP_DEFAULT)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= TOP_MAX:
        errors.append(f"top must be an integer between 1 and {TOP_MAX} inclusive (given {top!r})")
    if errors:
        raise PayloadError("invalid sql-log-analysis payload: " + "; ".join(errors))
    request = {"bucket": bucket.strip(), "top": top}
    if has_object:
        obj = request["object"] = payload["object"].strip()
        base = os.path.basename(obj)
        if base.endswith(".gz"):
            base = base[:-3]
        stem = os.path.splitext(base)[0] or base
    else:
        prefix = request["prefix"] = payload["prefix"].strip()
        stem = os.path.basename(prefix.rstrip("/")) or "slow-logs"
    if report_key is None:
        report_key = f"reports/{stem}.json"
    request["report_key"] = report_key.strip().lstrip("/")
    return request


# --------------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------------

_COMMENT_BLOCK = re.compile(r"/\*.*?\*/", re.S)
_COMMENT_LINE = re.compile(r"(?:--\s|#)[^\n]*")
_STRING = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"", re.S)
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\bx'[0-9a-f]*'", re.I)
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\b", re.I)
_NEGATIVE = re.compile(r"([=(,<>]\s*)-\s*\?")
_OPERATOR = re.compile(r"\s*(<=>|<=|>=|<>|!=|=|<|>)\s*")
_COMMA = re.compile(r"\s*,\s*")
_IN_LIST = re.compile(r"\bin\s*\((?:\?, )*\?\)")
_VALUES_LIST = re.compile(r"\bvalues?\s*\((?:\?, )*\?\)(?:, \((?:\?, )*\?\))*")
_SPACES = re.compile(r"\s+")
_OPEN_SPACES = re.compile(r"\(\s+")
_SPACES_CLOSE = re.compile(r"\s+\)")


def fingerprint(statement: str) -> str:
    """Normalises a statement so the same query with other literals gives the same text."""
    text = _COMMENT_BLOCK.sub(" ", statement)
    text = _STRING.sub("?", text)
    text = _COMMENT_LINE.sub(" ", text)
    text = _HEX.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = text.lower()
    text = _SPACES.sub(" ", text).strip()
    text = _NEGATIVE.sub(r"\1?", text)
    text = _OPERATOR.sub(r" \1 ", text)
    text = _COMMA.sub(", ", text)
    text = _OPEN_SPACES.sub("(", text)
    text = _SPACES_CLOSE.sub(")", text)
    text = _IN_LIST.sub("in(?+)", text)
    text = _VALUES_LIST.sub("values(?+)", text)
    text = _SPACES.sub(" ", text).strip()
    return text.rstrip("; ").strip()


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

_SERVER_HEADER = re.compile(r"^(?:\S+, Version: .* started with:|Tcp port: .*|Time\s+Id\s+Command\s+Argument)\s*$")
_USE = re.compile(r"^use\s+`?([^`;\s]+)`?\s*;\s*$", re.I)
_SET_TIMESTAMP = re.compile(r"^SET\s+timestamp\s*=\s*(\d+)\s*;\s*$", re.I)
_USER_HOST = re.compile(r"^# User@Host:\s*([^\s\[]*)\[[^\]]*\]\s*@\s*([^\s\[]*)\s*(?:\[([^\]]*)\])?(?:\s+Id:\s*(\d+))?")
_FIELD = re.compile(r"(\w+):\s+(\S+)")


def _parse_time(value: str) -> float | None:
    value = value.strip()
    try:
        if re.fullmatch(r"\d{6}\s+\d{1,2}:\d{2}:\d{2}", value):  # MySQL 5.6: 161121 10:14:21
            moment = _dt.datetime.strptime(re.sub(r"\s+", " ", value), "%y%m%d %H:%M:%S")
            return moment.replace(tzinfo=_dt.timezone.utc).timestamp()
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Entry:
    __slots__ = ("time_text", "timestamp", "user", "host", "thread", "db", "metrics", "lines", "unresolved")

    def __init__(self):
        self.time_text = None
        self.timestamp = None
        self.user = None
        self.host = None
        self.thread = None
        self.db = None
        self.metrics: dict | None = None
        self.lines: list[str] = []
        self.unresolved = False

    @property
    def statement(self) -> str:
        return "\n".join(self.lines).strip()

    @property
    def time(self) -> float | None:
        # Parsed only when needed: most entries carry `SET timestamp`, which wins.
        return _parse_time(self.time_text) if self.time_text is not None else None

    @property
    def when(self) -> float | None:
        return self.timestamp if self.timestamp is not None else self.time


def parse(lines, on_progress=None, threads: dict | None = None):
    """Yields complete entries (metrics and a statement) from an iterable of text lines.
    `on_progress(lines_read)` is called every PROGRESS_EVERY_LINES lines.

    `threads` (thread id → database of its last `use`) is the state carried from earlier text of
    the same log; an entry without `use` whose thread is not in it gets ``unresolved = True`` (its
    database, if any, was set before this text began)."""
    current: Entry | None = None
    db_by_thread: dict[str, str] = {} if threads is None else threads

    def finish(entry):
        if entry is None or entry.metrics is None or not entry.lines:
            return None
        if not entry.statement:
            return None
        if entry.db is not None:
            if entry.thread is not None:
                db_by_thread[entry.thread] = entry.db
        elif entry.thread is not None:
            entry.db = db_by_thread.get(entry.thread)
            entry.unresolved = entry.thread not in db_by_thread
        return entry

    count = 0
    for raw in lines:
        count += 1
        if on_progress is not None and count % PROGRESS_EVERY_LINES == 0:
            on_progress(count)
        line = raw.rstrip("\r\n")
        if not line.startswith("#"):
            if _SERVER_HEADER.match(line):
                done = finish(current)
                if done:
                    yield done
                current = None
                continue
            if current is None or current.metrics is None:
                continue  # stray text outside an entry
            if not current.lines:
                stripped = line.strip()
                found = _USE.match(stripped)
                if found:
                    current.db = found.group(1)
                    continue
                found = _SET_TIMESTAMP.match(stripped)
                if found:
                    current.timestamp = float(found.group(1))
                    continue
                if stripped == "":
                    continue
            current.lines.append(line)
        elif line.startswith("# Time:"):
            done = finish(current)
            if done:
                yield done
            current = Entry()
            current.time_text = line[len("# Time:"):]
        elif line.startswith("# User@Host:"):
            if current is None or current.user is not None or current.lines or current.metrics is not None:
                done = finish(current)
                if done:
                    yield done
                current = Entry()
            found = _USER_HOST.match(line)
            if found:
                current.user = found.group(1)
                current.host = found.group(2) or found.group(3) or None
                current.thread = found.group(4)
            else:
                current.user = ""
        elif line.startswith("# Query_time:"):
            if current is None or current.metrics is not None or current.lines:
                done = finish(current)
                if done:
                    yield done
                current = Entry()
            fields = dict(_FIELD.findall(line[1:]))
            try:
                current.metrics = {
                    "query_time": float(fields.get("Query_time", 0)),
                    "lock_time": float(fields.get("Lock_time", 0)),
                    "rows_sent": int(float(fields.get("Rows_sent", 0))),
                    "rows_examined": int(float(fields.get("Rows_examined", 0))),
                }
            except ValueError:
                current.metrics = None  # unreadable header: the entry is skipped
        else:
            # Other headers (Percona/MariaDB "# Schema: db  Last_errno: 0 ...", "# Bytes_sent: ...").
            if current is not None:
                fields = dict(_FIELD.findall(line[1:]))
                if fields.get("Schema") and current.db is None:
                    current.db = fields["Schema"]
    done = finish(current)
    if done:
        yield done


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------


def p95(values) -> float:
    """Nearest-rank 95th percentile: the ceil(0.95 n)-th smallest value."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = _dt.datetime.fromtimestamp(epoch, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _r(value: float) -> float:
    return round(value, 6)


def _min(a, b):
    return b if a is None else a if b is None else min(a, b)


def _max(a, b):
    return b if a is None else a if b is None else max(a, b)


class Aggregate:
    """One fingerprint's figures. Everything merges exactly: the times are kept (p95 and fsum
    need the values; fsum is exactly rounded, so the order of merging does not matter), counts
    and rows are integer sums, the rest sets, minima and maxima. The example is the slowest
    statement, the first one met on a tie — merging in log and range order keeps that."""

    __slots__ = ("fingerprint", "query_times", "lock_times", "rows_examined_total", "rows_examined_max",
                 "rows_sent_total", "rows_sent_max", "databases", "hosts", "users", "first", "last",
                 "example", "example_time")

    def __init__(self, text: str):
        self.fingerprint = text
        self.query_times = array.array("d")
        self.lock_times = array.array("d")
        self.rows_examined_total = 0
        self.rows_examined_max = None
        self.rows_sent_total = 0
        self.rows_sent_max = None
        self.databases: set[str] = set()
        self.hosts: set[str] = set()
        self.users: set[str] = set()
        self.first = None
        self.last = None
        self.example = ""
        self.example_time = -1.0

    def add(self, entry: Entry) -> None:
        m = entry.metrics
        self.query_times.append(m["query_time"])
        self.lock_times.append(m["lock_time"])
        self.rows_examined_total += m["rows_examined"]
        self.rows_examined_max = _max(self.rows_examined_max, m["rows_examined"])
        self.rows_sent_total += m["rows_sent"]
        self.rows_sent_max = _max(self.rows_sent_max, m["rows_sent"])
        if entry.db:
            self.databases.add(entry.db)
        if entry.host:
            self.hosts.add(entry.host)
        if entry.user:
            self.users.add(f"{entry.user}@{entry.host}" if entry.host else entry.user)
        when = entry.when
        if when is not None:
            self.first = _min(self.first, when)
            self.last = _max(self.last, when)
        if m["query_time"] > self.example_time:
            self.example_time = m["query_time"]
            self.example = entry.statement[:2000]

    def merge(self, other: "Aggregate") -> None:
        """Adds `other`, the same fingerprint's figures from text that comes after this one's."""
        self.query_times.extend(other.query_times)
        self.lock_times.extend(other.lock_times)
        self.rows_examined_total += other.rows_examined_total
        self.rows_examined_max = _max(self.rows_examined_max, other.rows_examined_max)
        self.rows_sent_total += other.rows_sent_total
        self.rows_sent_max = _max(self.rows_sent_max, other.rows_sent_max)
        self.databases |= other.databases
        self.hosts |= other.hosts
        self.users |= other.users
        self.first = _min(self.first, other.first)
        self.last = _max(self.last, other.last)
        if other.example_time > self.example_time:
            self.example_time = other.example_time
            self.example = other.example

    # Plain tuples cross the process boundary (the class may live in a module a child cannot
    # import by name, e.g. when loaded from a path).
    def state(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    @classmethod
    def from_state(cls, state: tuple) -> "Aggregate":
        aggregate = cls.__new__(cls)
        for name, value in zip(cls.__slots__, state):
            setattr(aggregate, name, value)
        return aggregate

    @property
    def total(self) -> float:
        return math.fsum(self.query_times)

    def to_json(self, grand_total: float) -> dict:
        n = len(self.query_times)
        total = self.total
        lock_total = math.fsum(self.lock_times)
        return {
            "fingerprint": self.fingerprint,
            "count": n,
            "query_time": {
                "total": _r(total),
                "mean": _r(total / n),
                "p95": _r(p95(self.query_times)),
                "max": _r(max(self.query_times)),
                "min": _r(min(self.query_times)),
            },
            "share_of_total_time": _r(total / grand_total) if grand_total > 0 else 0.0,
            "lock_time": {
                "total": _r(lock_total),
                "mean": _r(lock_total / n),
                "max": _r(max(self.lock_times)),
            },
            "rows_examined": {
                "total": self.rows_examined_total,
                "mean": _r(self.rows_examined_total / n),
                "max": self.rows_examined_max,
            },
            "rows_sent": {
                "total": self.rows_sent_total,
                "mean": _r(self.rows_sent_total / n),
                "max": self.rows_sent_max,
            },
            "databases": sorted(self.databases),
            "hosts": sorted(self.hosts),
            "users": sorted(self.users),
            "first_seen": _iso(self.first),
            "last_seen": _iso(self.last),
            "example": self.example,
        }


class Partial:
    """The aggregates of one stretch of one log, mergeable with the stretches after it."""

    def __init__(self):
        self.groups: dict[str, Aggregate] = {}
        self.entries = 0
        self.first = None
        self.last = None
        # (fingerprint, thread) of entries whose thread had no `use` yet in this stretch.
        self.pending: set[tuple[str, str]] = set()
        # thread → database of its last `use` in this stretch.
        self.threads: dict[str, str] = {}

    def consume(self, lines, on_progress=None) -> "Partial":
        groups = self.groups
        for entry in parse(lines, on_progress, self.threads):
            self.entries += 1
            text = fingerprint(entry.statement)
            group = groups.get(text)
            if group is None:
                group = groups[text] = Aggregate(text)
            group.add(entry)
            if entry.unresolved:
                self.pending.add((text, entry.thread))
            when = entry.when
            if when is not None:
                self.first = _min(self.first, when)
                self.last = _max(self.last, when)
        return self

    def state(self) -> dict:
        return {"groups": [g.state() for g in self.groups.values()], "entries": self.entries,
                "first": self.first, "last": self.last, "pending": sorted(self.pending), "threads": self.threads}


class Merger:
    """Merges the partials of logs, each log's in text order, into one report."""

    def __init__(self):
        self.groups: dict[str, Aggregate] = {}
        self.entries = 0
        self.first = None
        self.last = None
        self._threads: dict[str, str] = {}

    def start_log(self) -> None:
        self._threads = {}  # every log starts with no thread → database knowledge

    def add(self, state: dict) -> None:
        for group_state in state["groups"]:
            group = Aggregate.from_state(group_state)
            mine = self.groups.get(group.fingerprint)
            if mine is None:
                self.groups[group.fingerprint] = group
            else:
                mine.merge(group)
        # Entries whose thread's `use` came before this stretch take that database now.
        for text, thread in state["pending"]:
            db = self._threads.get(thread)
            if db:
                self.groups[text].databases.add(db)
        self._threads.update(state["threads"])
        self.entries += state["entries"]
        self.first = _min(self.first, state["first"])
        self.last = _max(self.last, state["last"])

    def report(self, top: int) -> dict:
        return _report(self.groups, self.entries, self.first, self.last, top)


def _report(groups: dict, entries: int, first, last, top: int) -> dict:
    grand_total = math.fsum(g.total for g in groups.values())
    ordered = sorted(groups.values(), key=lambda g: (-g.total, -len(g.query_times), g.fingerprint))
    return {
        "entries": entries,
        "fingerprints": len(groups),
        "total_query_time": _r(grand_total),
        "time_range": {"first": _iso(first), "last": _iso(last)},
        "p95_method": "nearest-rank: the ceil(0.95 * count)-th smallest query time",
        "top": top,
        "queries": [g.to_json(grand_total) for g in ordered[:top]],
    }


def analyse(lines, top: int = TOP_DEFAULT, on_progress=None) -> dict:
    """Parses and aggregates one log's lines in this process; returns the report (without the
    source block)."""
    partial = Partial().consume(lines, on_progress)
    return _report(partial.groups, partial.entries, partial.first, partial.last, top)


# --------------------------------------------------------------------------------------------
# Reading logs: blocks, byte ranges, processes
# --------------------------------------------------------------------------------------------


def read_lines(stream, limit: int | None = None):
    """Lines (without their \\n) of a binary stream, read READ_BLOCK bytes at a time, at most
    `limit` bytes; decoded as UTF-8 with undecodable bytes replaced."""
    carry = b""
    remaining = limit
    while remaining is None or remaining > 0:
        block = stream.read(READ_BLOCK if remaining is None else min(READ_BLOCK, remaining))
        if not block:
            break
        if remaining is not None:
            remaining -= len(block)
        cut = block.rfind(b"\n")
        if cut < 0:
            carry += block
            continue
        text = (carry + block[:cut]).decode("utf-8", "replace") if carry else block[:cut].decode("utf-8", "replace")
        carry = block[cut + 1:]
        yield from text.split("\n")
    if carry:
        yield carry.decode("utf-8", "replace")


_BOUNDARY = b"\n# Time:"


def split_ranges(path: str, chunk_bytes: int = CHUNK_BYTES) -> list[tuple[int, int]]:
    """[start, end) byte ranges covering a plain log, each after the first starting at a
    `# Time:` line: the parser ends the entry before every such line, so each range holds whole
    entries. A log with no `# Time:` line near a cut stays in fewer, larger ranges."""
    size = os.path.getsize(path)
    starts = [0]
    keep = len(_BOUNDARY) - 1
    with open(path, "rb") as handle:
        target = chunk_bytes
        while target < size:
            # From the byte before the target, so a `# Time:` line starting at it is found.
            base = target - 1
            handle.seek(base)
            buffer = b""
            found = -1
            while found < 0:
                block = handle.read(READ_BLOCK)
                if not block:
                    break
                buffer += block
                at = buffer.find(_BOUNDARY)
                if at >= 0:
                    found = base + at + 1
                    break
                drop = max(0, len(buffer) - keep)
                base += drop
                buffer = buffer[drop:]
            if found < 0:
                break
            starts.append(found)
            target = found + chunk_bytes
    return [(start, end) for start, end in zip(starts, starts[1:] + [size])]


def analyse_unit(unit: dict) -> dict:
    """One unit: a whole log (gzip, or small) or a byte range of a plain log → Partial.state()."""
    name = unit["name"]
    try:
        if unit["gzip"]:
            with gzip.open(unit["path"], "rb") as stream:
                return Partial().consume(read_lines(stream)).state()
        with open(unit["path"], "rb") as stream:
            stream.seek(unit["start"])
            return Partial().consume(read_lines(stream, unit["end"] - unit["start"])).state()
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise LogError(f"{name} is not a readable gzip file ({type(error).__name__}: {error}); "
                       "a log ending in .gz must be gzip, any other log plain text") from None
    except OSError as error:
        raise LogError(f"{name} could not be read ({type(error).__name__}: {error})") from None


def plan_units(logs: list[dict], chunk_bytes: int = CHUNK_BYTES) -> list[dict]:
    """logs: [{"name", "path", "gzip"}] → units in log order, ranges in text order."""
    units = []
    for index, log in enumerate(logs):
        if log["gzip"]:
            units.append({**log, "log": index, "start": 0, "end": None})
        else:
            for start, end in split_ranges(log["path"], chunk_bytes):
                units.append({**log, "log": index, "start": start, "end": end})
    return units


def process_count() -> int:
    configured = os.environ.get(PROCESSES_ENV)
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise ValueError(f"{PROCESSES_ENV} must be a positive integer (given {configured!r})")
        return int(configured)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _serve(jobs, results) -> None:
    """A parser process: units in, partial states (or the error's message) out."""
    while True:
        job = jobs.get()
        if job is None:
            return
        index, unit = job
        try:
            results.put((index, True, analyse_unit(unit)))
        except LogError as error:
            results.put((index, False, ("LogError", str(error))))
        except Exception as error:  # noqa: BLE001 - reported to the parent, which fails the task
            results.put((index, False, (type(error).__name__, str(error))))


def run_units(units: list[dict], processes: int):
    """Yields each unit's partial state in unit order, parsed in up to `processes` forked
    processes (in this one when 1). Children are killed when the caller stops early."""
    processes = min(processes, len(units))
    if processes <= 1:
        for unit in units:
            yield analyse_unit(unit)
        return
    context = multiprocessing.get_context("fork")
    jobs, results = context.Queue(), context.Queue()
    for index, unit in enumerate(units):
        jobs.put((index, unit))
    for _ in range(processes):
        jobs.put(None)
    children = [context.Process(target=_serve, args=(jobs, results), daemon=True) for _ in range(processes)]
    for child in children:
        child.start()
    try:
        ready: dict[int, dict] = {}
        for index in range(len(units)):
            while index not in ready:
                try:
                    done, ok, value = results.get(timeout=1.0)
                except queue.Empty:
                    dead = [c.exitcode for c in children if c.exitcode not in (None, 0)]
                    if dead:
                        raise RuntimeError(f"a log parser process exited with code {dead[0]}") from None
                    continue
                if not ok:
                    kind, message = value
                    raise (LogError(message) if kind == "LogError" else RuntimeError(f"{kind}: {message}"))
                ready[done] = value
            yield ready.pop(index)
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
            child.join()
        for channel in (jobs, results):
            channel.cancel_join_thread()
            channel.close()


def analyse_files(paths: list[str], top: int = TOP_DEFAULT, workers: int | None = None,
                  chunk_bytes: int = CHUNK_BYTES, names: list[str] | None = None, on_progress=None) -> dict:
    """The report over several logs on disk (gzip when the name ends in .gz); per log also
    ``logs[i]["entries"]``. `on_progress(bytes_done, bytes_total)` after each unit."""
    names = names or paths
    logs = [{"name": name, "path": path, "gzip": name.endswith(".gz")} for name, path in zip(names, paths)]
    processes = workers or process_count()
    # Enough ranges to keep every process busy on a single smaller log, none under READ_BLOCK.
    plain = sum(os.path.getsize(log["path"]) for log in logs if not log["gzip"])
    chunk_bytes = min(chunk_bytes, max(READ_BLOCK, -(-plain // (processes * 2))))
    units = plan_units(logs, chunk_bytes)
    sizes = [(u["end"] - u["start"]) if u["end"] is not None else os.path.getsize(u["path"]) for u in units]
    total = sum(sizes)
    merger = Merger()
    per_log = [0] * len(logs)
    done = 0
    current_log = None
    for unit, size, state in zip(units, sizes, run_units(units, processes)):
        if unit["log"] != current_log:
            merger.start_log()
            current_log = unit["log"]
        merger.add(state)
        per_log[unit["log"]] += state["entries"]
        done += size
        if on_progress is not None:
            on_progress(done, total)
    report = merger.report(top)
    report["logs"] = [{"name": log["name"], "entries": n} for log, n in zip(logs, per_log)]
    return report


# --------------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------------


def list_logs(task, request: dict) -> list[dict]:
    """The logs to analyse: [{"key", "size"}]; fails naming the prefix when there is none."""
    bucket = request["bucket"]
    if "object" in request:
        return [{"key": request["object"], "size": None}]
    try:
        listed = task._runtime.client.list_objects(bucket, request["prefix"])
    except AwsError as error:
        raise (_not_found(error) or error) from None
    logs = [o for o in listed if not o["key"].endswith("/") and o["key"] != request["report_key"]]
    if not logs:
        raise LogError(f"no logs under s3://{bucket}/{request['prefix']} (ListObjectsV2 found "
                       f"{len(listed)} object(s){', none of them a log' if listed else ''}); "
                       "give a prefix with at least one slow-query log, plain or .gz")
    return logs


def _empty_error(names: list[str]) -> LogError:
    return LogError(f"empty log{'s' if len(names) > 1 else ''} (0 bytes): {', '.join(names)}; "
                    "every log must be a MySQL slow-query log with at least one entry")


def handler(payload, task) -> dict:
    request = validate(payload)
    bucket = request["bucket"]
    logs = list_logs(task, request)
    empty = [f"s3://{bucket}/{log['key']}" for log in logs if log["size"] == 0]
    if empty:
        raise _empty_error(empty)
    workdir = tempfile.mkdtemp(prefix="sql-log-", dir=os.environ.get("TASK_WORK_DIR") or None)
    try:
        paths, names, sizes = [], [], []
        for index, log in enumerate(logs):
            name = f"s3://{bucket}/{log['key']}"
            task.progress(round(10 * index / len(logs), 1), f"downloading {name} ({index + 1}/{len(logs)})")
            path = os.path.join(workdir, f"{index:05d}" + (".log.gz" if log["key"].endswith(".gz") else ".log"))
            try:
                sizes.append(task.download(bucket, log["key"], path))
            except AwsError as error:
                raise (_not_found(error) or error) from None
            paths.append(path)
            names.append(name)
        empty = [name for name, size in zip(names, sizes) if size == 0]
        if empty:
            raise _empty_error(empty)

        def on_progress(done: int, total: int) -> None:
            task.progress(10 + round(done / total * 80, 1) if total else 10, f"parsed {done} of {total} bytes")

        report = analyse_files(paths, request["top"], names=names, on_progress=on_progress)
        no_entries = [(log["name"], size) for log, size in zip(report.pop("logs"), sizes) if log["entries"] == 0]
        if no_entries:
            raise LogError("no slow-query entries (# Query_time: header and a statement) in "
                           + ", ".join(f"{name} ({size} bytes)" for name, size in no_entries)
                           + "; is it a MySQL slow-query log?")
        task.progress(95, f"parsed {report['entries']} entries into {report['fingerprints']} fingerprints")
        if "object" in request:
            source = {"bucket": bucket, "key": request["object"], "bytes": sizes[0]}
        else:
            source = {"bucket": bucket, "prefix": request["prefix"], "bytes": sum(sizes),
                      "objects": [{"key": log["key"], "bytes": size} for log, size in zip(logs, sizes)]}
        document = {"source": source, "generated_at": _iso(_dt.datetime.now(_dt.timezone.utc).timestamp()), **report}
        location = task.put_json(bucket, request["report_key"], document)
        task.progress(100, f"report written to s3://{location['bucket']}/{location['key']}")
        return {
            "logs": len(logs),
            "entries": report["entries"],
            "fingerprints": report["fingerprints"],
            "total_query_time": report["total_query_time"],
            "report": location,
            "top": [
                {
                    "fingerprint": q["fingerprint"],
                    "count": q["count"],
                    "total": q["query_time"]["total"],
                    "mean": q["query_time"]["mean"],
                    "p95": q["query_time"]["p95"],
                    "max": q["query_time"]["max"],
                }
                for q in report["queries"][:SUMMARY_TOP]
            ],
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    run(handler)
