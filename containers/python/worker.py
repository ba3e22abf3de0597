"""sql-log-analysis: MySQL slow-query-log analysis as an asynctask container task (the article's
Python data analysis of the database inspection platform).

Payload::

    {"bucket": "my-bucket", "object": "logs/slow-query.log", "report_key": "reports/x.json", "top": 20}

Downloads the log (plain, or gzip when the key ends in .gz), parses every entry (``# Time:``,
``# User@Host:``, ``# Query_time: … Lock_time: … Rows_sent: … Rows_examined: …``, ``use db;``,
``SET timestamp=…;`` and the statement, possibly over several lines), groups the statements by
fingerprint (lower case, literals → ``?``, IN / VALUES lists collapsed, whitespace collapsed)
and aggregates per fingerprint: count, total / mean / p95 / max query time, lock time, rows
examined (total / mean / max), rows sent. p95 is the nearest-rank percentile: the
ceil(0.95 × n)-th smallest value.

The report (sorted by total query time, the top N fingerprints) is written as JSON to
``report_key`` (default ``reports/<object basename without extension>.json``) in the same
bucket. The task result is a summary: entries, fingerprints, report location, top 5.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile

# In the image the helper sits next to this file (/app); in the repository it is runtime/python.
_HERE = os.path.dirname(os.path.abspath(__file__))
for _path in (os.path.join(_HERE, "..", "..", "runtime", "python"), _HERE):
    if os.path.isfile(os.path.join(_path, "asynctask_runtime.py")):
        sys.path.insert(0, os.path.abspath(_path))

from asynctask_runtime import run  # noqa: E402

TOP_DEFAULT = 20
TOP_MAX = 1000
SUMMARY_TOP = 5
PROGRESS_EVERY_LINES = 20_000


class PayloadError(ValueError):
    """The payload is not a valid analysis request."""


def validate(payload) -> dict:
    if not isinstance(payload, dict):
        raise PayloadError(
            f"payload must be a JSON object {{bucket, object, report_key?, top?}} (given {type(payload).__name__})"
        )
    errors = []
    for field in ("bucket", "object"):
        value = payload.get(field)
        if not isinstance(value, str) or value.strip() == "":
            errors.append(f"{field} must be a non-empty string (given {value!r})")
    report_key = payload.get("report_key")
    if report_key is not None and (not isinstance(report_key, str) or report_key.strip("/ ") == ""):
        errors.append(f"report_key must be a non-empty S3 key (given {report_key!r})")
    top = payload.get("top", TOP_DEFAULT)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= TOP_MAX:
        errors.append(f"top must be an integer between 1 and {TOP_MAX} inclusive (given {top!r})")
    if errors:
        raise PayloadError("invalid sql-log-analysis payload: " + "; ".join(errors))
    obj = payload["object"].strip()
    if report_key is None:
        base = os.path.basename(obj)
        if base.endswith(".gz"):
            base = base[:-3]
        stem = os.path.splitext(base)[0] or base
        report_key = f"reports/{stem}.json"
    return {"bucket": payload["bucket"].strip(), "object": obj, "report_key": report_key.strip().lstrip("/"), "top": top}


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


def fingerprint(statement: str) -> str:
    """Normalises a statement so the same query with other literals gives the same text."""
    text = _COMMENT_BLOCK.sub(" ", statement)
    text = _STRING.sub("?", text)
    text = _COMMENT_LINE.sub(" ", text)
    text = _HEX.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = text.lower()
    text = re.sub(r"\s+", " ", text).strip()
    text = _NEGATIVE.sub(r"\1?", text)
    text = _OPERATOR.sub(r" \1 ", text)
    text = _COMMA.sub(", ", text)
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    text = _IN_LIST.sub("in(?+)", text)
    text = _VALUES_LIST.sub("values(?+)", text)
    text = re.sub(r"\s+", " ", text).strip()
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
    __slots__ = ("time", "timestamp", "user", "host", "thread", "db", "metrics", "lines")

    def __init__(self):
        self.time = None
        self.timestamp = None
        self.user = None
        self.host = None
        self.thread = None
        self.db = None
        self.metrics: dict | None = None
        self.lines: list[str] = []

    @property
    def statement(self) -> str:
        return "\n".join(self.lines).strip()

    @property
    def when(self) -> float | None:
        return self.timestamp if self.timestamp is not None else self.time


def parse(lines, on_progress=None):
    """Yields complete entries (metrics and a statement) from an iterable of text lines.
    `on_progress(lines_read)` is called every PROGRESS_EVERY_LINES lines."""
    current: Entry | None = None
    db_by_thread: dict[str, str] = {}
    last_db = None

    def finish(entry):
        nonlocal last_db
        if entry is None or entry.metrics is None or not entry.statement:
            return None
        if entry.db is not None:
            if entry.thread is not None:
                db_by_thread[entry.thread] = entry.db
            last_db = entry.db
        elif entry.thread is not None:
            entry.db = db_by_thread.get(entry.thread)
        return entry

    count = 0
    for raw in lines:
        count += 1
        if on_progress is not None and count % PROGRESS_EVERY_LINES == 0:
            on_progress(count)
        line = raw.rstrip("\r\n")
        if line.startswith("# Time:"):
            done = finish(current)
            if done:
                yield done
            current = Entry()
            current.time = _parse_time(line[len("# Time:"):])
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
        elif line.startswith("#"):
            # Other headers (Percona/MariaDB "# Schema: db  Last_errno: 0 ...", "# Bytes_sent: ...").
            if current is not None:
                fields = dict(_FIELD.findall(line[1:]))
                if fields.get("Schema") and current.db is None:
                    current.db = fields["Schema"]
        elif _SERVER_HEADER.match(line):
            done = finish(current)
            if done:
                yield done
            current = None
        else:
            if current is None or current.metrics is None:
                continue  # stray text outside an entry
            stripped = line.strip()
            if not current.lines:
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
    done = finish(current)
    if done:
        yield done


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
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


class Aggregate:
    def __init__(self, text: str):
        self.fingerprint = text
        self.query_times: list[float] = []
        self.lock_times: list[float] = []
        self.rows_examined: list[int] = []
        self.rows_sent: list[int] = []
        self.databases: set[str] = set()
        self.users: set[str] = set()
        self.first = None
        self.last = None
        self.example = ""
        self.example_time = -1.0

    def add(self, entry: Entry) -> None:
        m = entry.metrics
        self.query_times.append(m["query_time"])
        self.lock_times.append(m["lock_time"])
        self.rows_examined.append(m["rows_examined"])
        self.rows_sent.append(m["rows_sent"])
        if entry.db:
            self.databases.add(entry.db)
        if entry.user:
            self.users.add(f"{entry.user}@{entry.host}" if entry.host else entry.user)
        when = entry.when
        if when is not None:
            self.first = when if self.first is None else min(self.first, when)
            self.last = when if self.last is None else max(self.last, when)
        if m["query_time"] > self.example_time:
            self.example_time = m["query_time"]
            self.example = entry.statement[:2000]

    @property
    def total(self) -> float:
        return math.fsum(self.query_times)

    def to_json(self, grand_total: float) -> dict:
        n = len(self.query_times)
        total = self.total
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
                "total": _r(math.fsum(self.lock_times)),
                "mean": _r(math.fsum(self.lock_times) / n),
                "max": _r(max(self.lock_times)),
            },
            "rows_examined": {
                "total": sum(self.rows_examined),
                "mean": _r(sum(self.rows_examined) / n),
                "max": max(self.rows_examined),
            },
            "rows_sent": {
                "total": sum(self.rows_sent),
                "mean": _r(sum(self.rows_sent) / n),
                "max": max(self.rows_sent),
            },
            "databases": sorted(self.databases),
            "users": sorted(self.users),
            "first_seen": _iso(self.first),
            "last_seen": _iso(self.last),
            "example": self.example,
        }


def analyse(lines, top: int = TOP_DEFAULT, on_progress=None) -> dict:
    """Parses and aggregates; returns the report (without the source block)."""
    groups: dict[str, Aggregate] = {}
    entries = 0
    first = last = None
    for entry in parse(lines, on_progress):
        entries += 1
        text = fingerprint(entry.statement)
        group = groups.get(text)
        if group is None:
            group = groups[text] = Aggregate(text)
        group.add(entry)
        when = entry.when
        if when is not None:
            first = when if first is None else min(first, when)
            last = when if last is None else max(last, when)
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


def _open_text(path: str, gzipped: bool):
    raw = gzip.open(path, "rb") if gzipped else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def handler(payload, task) -> dict:
    request = validate(payload)
    workdir = tempfile.mkdtemp(prefix="sql-log-", dir=os.environ.get("TASK_WORK_DIR") or None)
    try:
        path = os.path.join(workdir, "slow.log")
        task.progress(0, f"downloading s3://{request['bucket']}/{request['object']}")
        size = task.download(request["bucket"], request["object"], path)
        gzipped = request["object"].endswith(".gz")
        with _open_text(path, gzipped) as handle:
            raw = handle.buffer

            def on_progress(lines_read: int) -> None:
                try:
                    done = raw.fileobj.tell() if gzipped else raw.tell()
                except (OSError, AttributeError):
                    done = 0
                percent = min(90.0, round(done / size * 90, 1)) if size else 0
                task.progress(percent, f"parsed {lines_read} lines")

            report = analyse(handle, request["top"], on_progress)
        task.progress(95, f"parsed {report['entries']} entries into {report['fingerprints']} fingerprints")
        document = {
            "source": {"bucket": request["bucket"], "key": request["object"], "bytes": size},
            "generated_at": _iso(_dt.datetime.now(_dt.timezone.utc).timestamp()),
            **report,
        }
        location = task.put_json(request["bucket"], request["report_key"], document)
        task.progress(100, f"report written to s3://{location['bucket']}/{location['key']}")
        return {
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
