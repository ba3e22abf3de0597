"""asynctask container runtime helper (Python standard library only).

A container task function calls this module to take part in the task lifecycle described in
docs/design.md ("Runtime helper contract (containers)"):

1. start: read the task item (``functionName`` = TASK_FUNCTION, ``taskId`` = TASK_ID) from
   TASK_TABLE, take ``taskPayload`` (JSON text), then move the task to ``Running`` with a
   conditional update (owning execution, allowed prior status, deadline not passed). If that
   condition fails the work is NOT run and the process exits with code 3.
2. progress: ``task.progress(percent, message)`` updates ``progress`` (throttled to one write per
   5 s; the last value is always written before the result).
3. success: the JSON result is put to TASK_RESULT_BUCKET/TASK_RESULT_KEY; exit code 0.
4. failure: ``taskErrorMessage`` is written (condition: owning execution), the traceback is
   logged; exit code 1, which the state machine retries while retries remain. A work that
   raises ``PermanentError`` (bad payload, missing or unreadable input: no retry can help)
   exits with code 2 instead, and the task fails without its retries. SIGTERM (a stop, a timeout, a Spot interruption) ends the work with
   exit code 143.

Usage::

    from asynctask_runtime import run

    def handler(payload, task):
        task.progress(50, "half way")
        return {"answer": 42}

    run(handler)

or ``with task() as t: ...; t.set_result(value)``.

Everything talks to AWS through asynctask_aws, a tiny SigV4-signing client (urllib + hmac) for
DynamoDB and S3 that reads credentials, region and local endpoints from the environment. Its
surface is named in its docstring; ``task.download`` / ``task.upload`` stream files of any size
(up to S3's 5 TiB): downloads in 1 MiB reads, uploads over 8 MiB as a multipart upload, a few
parts at a time, aborted when a part fails.

Every log line is one JSON object on stdout carrying ``taskId``.

Every value shared with the TypeScript model (environment names, statuses and transitions,
attribute names, limits, exit codes) comes from ``asynctask_contract.json`` next to this file,
generated from lambda/model by scripts/gen-contract.ts; importing the module fails with
ContractError when that file is missing or malformed.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import signal
import sys
import threading
import time
import traceback

# The AWS client lives in asynctask_aws; these names stay importable from here for workers.
from asynctask_aws import (
    EMPTY_SHA256,
    AwsClient,
    AwsError,
    ConditionalCheckFailed,
    CredentialProvider,
    Credentials,
    MultipartUploadError,
    from_attribute_value,
    no_proxy_opener,
    sign_request,
    to_attribute_value,
)

__all__ = [
    "AwsClient",
    "AwsError",
    "ConditionalCheckFailed",
    "ContractError",
    "Credentials",
    "CredentialProvider",
    "EMPTY_SHA256",
    "MultipartUploadError",
    "PermanentError",
    "Runtime",
    "S3_NOT_FOUND_CODES",
    "Task",
    "TaskNotRunnable",
    "TaskTerminated",
    "EXIT_SUCCEEDED",
    "EXIT_FAILED",
    "EXIT_INVALID_INPUT",
    "EXIT_NOT_RUNNABLE",
    "EXIT_TERMINATED",
    "sign_request",
    "to_attribute_value",
    "from_attribute_value",
    "run",
    "task",
]

CONTRACT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "asynctask_contract.json")


class ContractError(RuntimeError):
    """asynctask_contract.json is missing or not what scripts/gen-contract.ts writes."""


def load_contract(path: str = CONTRACT_FILE) -> dict:
    """Reads the values shared with the TypeScript model (generated from lambda/model by
    scripts/gen-contract.ts; it ships next to this module)."""
    try:
        with open(path, encoding="utf-8") as handle:
            contract = json.load(handle)
    except OSError as error:
        raise ContractError(
            f"cannot read the asynctask contract {path} ({error.strerror or error}); it must sit next to "
            "asynctask_runtime.py (copy runtime/python/asynctask_contract.json into the image; "
            "regenerate it with `npx tsx scripts/gen-contract.ts`)"
        ) from None
    except ValueError as error:
        raise ContractError(
            f"the asynctask contract {path} is not valid JSON ({error}); "
            "regenerate it with `npx tsx scripts/gen-contract.ts`"
        ) from None
    if not isinstance(contract, dict):
        raise ContractError(f"the asynctask contract {path} is not a JSON object; "
                            "regenerate it with `npx tsx scripts/gen-contract.ts`")
    return contract


def contract_value(contract: dict, dotted: str, path: str = CONTRACT_FILE):
    """``contract["a"]["b"]`` for ``"a.b"``, or a ContractError naming the file and the key."""
    value = contract
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise ContractError(f"the asynctask contract {path} has no '{dotted}'; it is older or newer "
                                "than this helper: regenerate it with `npx tsx scripts/gen-contract.ts`")
        value = value[part]
    return value


_CONTRACT = load_contract()


def _shared(dotted: str):
    return contract_value(_CONTRACT, dotted)


EXIT_SUCCEEDED = _shared("exitCodes.succeeded")
EXIT_FAILED = _shared("exitCodes.failed")
EXIT_INVALID_INPUT = _shared("exitCodes.invalidInput")
EXIT_NOT_RUNNABLE = _shared("exitCodes.notRunnable")
EXIT_TERMINATED = _shared("exitCodes.terminated")

# Set on every attempt by the state machine and the construct.
ENV_TASK_ID = _shared("env.container.taskId")
ENV_FUNCTION = _shared("env.container.functionName")
ENV_ATTEMPT = _shared("env.container.attempt")
ENV_REQUEST_ID = _shared("env.container.requestId")
ENV_EXECUTION_ARN = _shared("env.container.executionArn")
ENV_DEADLINE = _shared("env.container.deadline")
ENV_TABLE = _shared("env.container.table")
ENV_RESULT_BUCKET = _shared("env.container.resultBucket")
ENV_RESULT_KEY = _shared("env.container.resultKey")
# Let the helper record the CloudWatch log stream of the attempt: the construct sets the prefix
# and container name, the local runtime may name the stream itself.
ENV_LOG_STREAM_PREFIX = _shared("env.log.streamPrefix")
ENV_CONTAINER_NAME = _shared("env.log.containerName")
ENV_LOG_STREAM = _shared("env.log.stream")
# The local runtime's emulated ECS task ARN (used when there is no metadata endpoint).
ENV_LOCAL_TASK_ARN = _shared("env.local.taskArn")
# Standalone mode (no task table), a Python-only convenience: the payload as JSON text.
ENV_PAYLOAD = "TASK_PAYLOAD"

STATUSES = dict(_shared("statuses"))
STATUS_RUNNING = _shared("statuses.Running")
# The statuses this attempt may move the task from when it marks it Running.
RUNNING_FROM = tuple(_shared(f"transitions.{STATUS_RUNNING}"))

KEY_PARTITION = _shared("table.partitionKey")
KEY_SORT = _shared("table.sortKey")
ATTR_STATUS_KEY = _shared("table.statusKey")
KEY_SEPARATOR = _shared("table.separator")

ATTR_STATUS = _shared("item.status")
ATTR_EXECUTION_ARN = _shared("item.executionArn")
ATTR_DEADLINE = _shared("item.deadline")
ATTR_TASK_PAYLOAD = _shared("item.taskPayload")
ATTR_RUNNER_ID = _shared("item.runnerId")
ATTR_LOG_STREAM = _shared("item.logStream")
ATTR_EVENTS = _shared("item.events")
ATTR_PROGRESS = _shared("item.progress")
ATTR_ERROR_MESSAGE = _shared("item.taskErrorMessage")
EVENT_STATUS = _shared("event.status")
EVENT_AT = _shared("event.at")
EVENT_DETAIL = _shared("event.detail")
PROGRESS_PERCENT = _shared("progress.percent")
PROGRESS_MESSAGE = _shared("progress.message")
PROGRESS_UPDATED_AT = _shared("progress.updatedAt")

# The result becomes the record's returnPayload, so it has the payload limit.
MAX_RESULT_BYTES = _shared("limits.maxPayloadBytes")
MAX_ERROR_MESSAGE_CHARS = _shared("limits.maxErrorMessageChars")
ERROR_MESSAGE_ELLIPSIS = _shared("limits.errorMessageEllipsis")
# States.Format template of the result's S3 key; TASK_RESULT_KEY carries it filled in.
RESULT_KEY_FORMAT = _shared("resultKeyFormat")

# Python-only: nothing in TypeScript writes progress.
PROGRESS_INTERVAL_SECONDS = 5.0
MAX_PROGRESS_MESSAGE_CHARS = 1000


def iso_now(epoch_seconds: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds, the format of every time stored in the tasks table."""
    if epoch_seconds is None:
        epoch_seconds = time.time()
    moment = _dt.datetime.fromtimestamp(epoch_seconds, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class TaskNotRunnable(Exception):
    """The task may not be moved to Running by this attempt (exit code 3)."""


class PermanentError(Exception):
    """The work cannot succeed on any attempt (exit code 2): a bad payload, a missing bucket or
    object, an input that is corrupt or empty. Its message becomes the task's error message and
    the task fails without using its retries. Any other exception is retried; so raise this
    only for what a retry cannot change (not for throttling, a 5xx or a network error)."""


#: S3 error codes saying the bucket or the object does not exist: a worker that reads its input
#: from S3 raises a PermanentError for them (retrying does not make the object appear), while
#: throttling, a 5xx or a network error stays an ordinary, retried AwsError.
S3_NOT_FOUND_CODES = ("NoSuchKey", "NoSuchBucket")


def exit_code_of(error: BaseException) -> int:
    """The exit code of an attempt whose work raised ``error``."""
    return EXIT_INVALID_INPUT if isinstance(error, PermanentError) else EXIT_FAILED


class TaskTerminated(BaseException):
    """Raised in the main thread on SIGTERM; a BaseException so `except Exception` lets it pass."""


# --------------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------------


class Task:
    """What a handler gets: the payload, progress reporting, logging and S3 helpers."""

    def __init__(self, runtime: "Runtime", payload, item: dict | None):
        self._runtime = runtime
        self.payload = payload
        self.item = item
        self.task_id = runtime.task_id
        self.function_name = runtime.function_name
        self.attempt = runtime.attempt
        self.request_id = runtime.request_id
        self.execution_arn = runtime.execution_arn
        self.runner_id = runtime.runner_id
        self.log_stream = runtime.log_stream
        self.result = None
        self._has_result = False

    # progress ------------------------------------------------------------------------------

    def progress(self, percent: float, message: str | None = None) -> None:
        """Reports progress (0–100). Written at most once per 5 s; the last value is always
        written before the result."""
        self._runtime.report_progress(percent, message)

    report_progress = progress

    # result ---------------------------------------------------------------------------------

    def set_result(self, value) -> None:
        self.result = value
        self._has_result = True

    # logging --------------------------------------------------------------------------------

    def log(self, message: str, level: str = "info", **fields) -> None:
        self._runtime.log(message, level, **fields)

    # S3 ---------------------------------------------------------------------------------------

    def download(self, bucket: str, key: str, path: str) -> int:
        """Downloads s3://bucket/key to path, streamed (any size, constant memory; no partial
        file is left when it fails); returns its size in bytes."""
        started = time.monotonic()
        size = self._runtime.client.download(bucket, key, path)
        self.log("downloaded", bucket=bucket, key=key, path=path, bytes=size,
                 seconds=round(time.monotonic() - started, 3))
        return size

    def upload(self, path: str, bucket: str, key: str, content_type: str | None = None) -> dict:
        """Uploads a file to s3://bucket/key, streamed; over 8 MiB as a multipart upload (aborted
        when it fails, raising MultipartUploadError); returns {bucket, key, bytes}."""
        started = time.monotonic()
        size = self._runtime.client.upload(path, bucket, key, content_type)
        self.log("uploaded", bucket=bucket, key=key, path=path, bytes=size,
                 seconds=round(time.monotonic() - started, 3))
        return {"bucket": bucket, "key": key, "bytes": size}

    def get_object(self, bucket: str, key: str) -> bytes:
        return self._runtime.client.get_object(bucket, key)

    def put_json(self, bucket: str, key: str, value) -> dict:
        body = json.dumps(value, indent=2, sort_keys=False).encode("utf-8")
        self._runtime.client.put_object(bucket, key, body, "application/json")
        self.log("uploaded", bucket=bucket, key=key, bytes=len(body))
        return {"bucket": bucket, "key": key, "bytes": len(body)}


class Runtime:
    """The lifecycle of one container attempt. Everything that touches the outside world is
    injectable (env, client, clocks, output) so tests drive it in-process."""

    def __init__(self, env=None, client: AwsClient | None = None, clock=time.monotonic,
                 wall_clock=time.time, out=None, progress_interval: float = PROGRESS_INTERVAL_SECONDS,
                 metadata_timeout: float = 2.0):
        self.env = dict(os.environ if env is None else env)
        self.clock = clock
        self.wall_clock = wall_clock
        self.out = out
        self.progress_interval = progress_interval
        self.metadata_timeout = metadata_timeout
        self.task_id = self.env.get(ENV_TASK_ID, "")
        self.function_name = self.env.get(ENV_FUNCTION, "")
        attempt = self.env.get(ENV_ATTEMPT, "1")
        self.attempt = int(attempt) if attempt.isdigit() else attempt
        self.request_id = self.env.get(ENV_REQUEST_ID)
        self.execution_arn = self.env.get(ENV_EXECUTION_ARN, "")
        self.table = self.env.get(ENV_TABLE, "")
        self.result_bucket = self.env.get(ENV_RESULT_BUCKET, "")
        self.result_key = self.env.get(ENV_RESULT_KEY, "")
        self._client = client
        self.runner_id: str | None = None
        self.log_stream: str | None = None
        self.task: Task | None = None
        # progress state
        self._last_write: float | None = None
        self._pending: dict | None = None
        self._progress_disabled = False
        self._progress_lock = threading.Lock()
        self.progress_writes = 0

    @property
    def client(self) -> AwsClient:
        if self._client is None:
            self._client = AwsClient(self.env)
        return self._client

    @property
    def standalone(self) -> bool:
        """No tasks table: run the handler on the payload in ENV_PAYLOAD without any status writes."""
        return not self.table

    # logging ----------------------------------------------------------------------------------

    def log(self, message: str, level: str = "info", **fields) -> None:
        line = {
            "time": iso_now(self.wall_clock()),
            "level": level,
            "taskId": self.task_id,
            "functionName": self.function_name,
            "attempt": self.attempt,
            "message": message,
        }
        line.update(fields)
        stream = self.out or sys.stdout
        stream.write(json.dumps(line, default=str) + "\n")
        stream.flush()

    # start --------------------------------------------------------------------------------------

    def _key(self) -> dict:
        return {KEY_PARTITION: self.function_name, KEY_SORT: self.task_id}

    def _check_env(self) -> None:
        required = [ENV_TASK_ID, ENV_FUNCTION, ENV_EXECUTION_ARN, ENV_TABLE, ENV_RESULT_BUCKET, ENV_RESULT_KEY]
        missing = [name for name in required if not self.env.get(name)]
        if missing:
            raise RuntimeError(
                f"missing environment variable(s) {', '.join(missing)}: the container must be started "
                f"by the task function's state machine (or set {ENV_PAYLOAD} without {ENV_TABLE} to run standalone)"
            )

    def _discover_runner(self) -> None:
        metadata = self.env.get("ECS_CONTAINER_METADATA_URI_V4")
        task_arn = None
        awslogs_stream = None
        if metadata:
            opener = no_proxy_opener()
            try:
                with opener.open(metadata.rstrip("/") + "/task", timeout=self.metadata_timeout) as response:
                    task_arn = json.loads(response.read().decode("utf-8")).get("TaskARN")
            except (OSError, ValueError) as error:
                self.log("could not read the ECS task metadata; using a local runner id", "warn",
                         error=str(error))
            try:
                # The container's own metadata names its awslogs stream exactly.
                with opener.open(metadata.rstrip("/"), timeout=self.metadata_timeout) as response:
                    options = json.loads(response.read().decode("utf-8")).get("LogOptions") or {}
                    awslogs_stream = options.get("awslogs-stream")
            except (OSError, ValueError, AttributeError):
                awslogs_stream = None
        # The local runtime (asynctask dev) names its emulated ECS task in ENV_LOCAL_TASK_ARN.
        self.runner_id = task_arn or self.env.get(ENV_LOCAL_TASK_ARN) or f"local-{os.getpid()}"
        explicit = self.env.get(ENV_LOG_STREAM)
        prefix = self.env.get(ENV_LOG_STREAM_PREFIX)
        container = self.env.get(ENV_CONTAINER_NAME)
        if explicit:
            self.log_stream = explicit
        elif awslogs_stream:
            self.log_stream = awslogs_stream
        elif task_arn and prefix and container:
            self.log_stream = f"{prefix}/{container}/{task_arn.rsplit('/', 1)[-1]}"

    def start(self) -> Task:
        """Reads the task and marks it Running. Raises TaskNotRunnable when it may not run."""
        if self.standalone:
            text = self.env.get(ENV_PAYLOAD)
            if text is None:
                raise RuntimeError(f"{ENV_TABLE} is not set; set {ENV_PAYLOAD} (JSON) to run standalone")
            self.runner_id = f"local-{os.getpid()}"
            self.log(f"running standalone (no {ENV_TABLE}): no status writes")
            self.task = Task(self, json.loads(text), None)
            return self.task
        self._check_env()
        self._discover_runner()
        item = self.client.get_item(self.table, self._key(), consistent=True)
        if item is None:
            raise TaskNotRunnable(
                f"task '{self.task_id}' of function '{self.function_name}' is not in table '{self.table}'"
            )
        now = iso_now(self.wall_clock())
        # Every attribute goes through a placeholder: its name comes from the contract and may
        # be a DynamoDB reserved word (``status`` is one).
        names = {
            "#status": ATTR_STATUS,
            "#statusKey": ATTR_STATUS_KEY,
            "#runnerId": ATTR_RUNNER_ID,
            "#events": ATTR_EVENTS,
            "#executionArn": ATTR_EXECUTION_ARN,
            "#deadline": ATTR_DEADLINE,
        }
        allowed = {f":from{i}": status for i, status in enumerate(RUNNING_FROM)}
        values = {
            ":running": STATUS_RUNNING,
            ":statusKey": f"{self.function_name}{KEY_SEPARATOR}{STATUS_RUNNING}",
            ":runner": self.runner_id,
            ":exec": self.execution_arn,
            **allowed,
            ":now": now,
            ":empty": [],
            ":event": [{
                EVENT_STATUS: STATUS_RUNNING,
                EVENT_AT: now,
                EVENT_DETAIL: f"attempt {self.attempt} on {self.runner_id}",
            }],
        }
        sets = [
            "#status = :running",
            "#statusKey = :statusKey",
            "#runnerId = :runner",
            "#events = list_append(if_not_exists(#events, :empty), :event)",
        ]
        if self.log_stream:
            names["#logStream"] = ATTR_LOG_STREAM
            sets.append("#logStream = :logStream")
            values[":logStream"] = self.log_stream
        try:
            self.client.update_item(
                self.table,
                self._key(),
                "SET " + ", ".join(sets),
                f"#executionArn = :exec AND #status IN ({', '.join(allowed)}) AND #deadline > :now",
                names,
                values,
            )
        except ConditionalCheckFailed:
            # A retried request whose first try did succeed (response lost) also lands here:
            # read again and accept a task this very runner already marked Running.
            fresh = self.client.get_item(self.table, self._key(), consistent=True) or item
            if (fresh.get(ATTR_STATUS) == STATUS_RUNNING and fresh.get(ATTR_EXECUTION_ARN) == self.execution_arn
                    and fresh.get(ATTR_RUNNER_ID) == self.runner_id):
                item = fresh
            else:
                raise self._not_runnable(fresh, now) from None
        payload_text = item.get(ATTR_TASK_PAYLOAD)
        payload = json.loads(payload_text) if isinstance(payload_text, str) and payload_text != "" else payload_text
        self.log("running", runnerId=self.runner_id, logStream=self.log_stream, executionArn=self.execution_arn)
        self.task = Task(self, payload, item)
        return self.task

    def _not_runnable(self, item: dict, now: str) -> TaskNotRunnable:
        owner = item.get(ATTR_EXECUTION_ARN)
        reasons = []
        if owner != self.execution_arn:
            reasons.append(f"it belongs to execution '{owner}', not this one ('{self.execution_arn}')")
        status = item.get(ATTR_STATUS)
        if status not in RUNNING_FROM:
            reasons.append(f"its status is {status} ({STATUS_RUNNING} is allowed from {', '.join(RUNNING_FROM)})")
        deadline = item.get(ATTR_DEADLINE)
        if str(deadline or "") <= now:
            reasons.append(f"its deadline {deadline} has passed (now {now})")
        return TaskNotRunnable(
            f"task '{self.task_id}' may not start running: " + ("; ".join(reasons) or "the task changed meanwhile")
        )

    # progress -------------------------------------------------------------------------------------

    def report_progress(self, percent: float, message: str | None = None) -> None:
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or percent != percent:
            raise ValueError(f"progress percent must be a number between 0 and 100 (given {percent!r})")
        percent = max(0.0, min(100.0, float(percent)))
        percent = int(percent) if percent.is_integer() else round(percent, 2)
        entry = {PROGRESS_PERCENT: percent, PROGRESS_UPDATED_AT: iso_now(self.wall_clock())}
        if message is not None:
            entry[PROGRESS_MESSAGE] = str(message)[:MAX_PROGRESS_MESSAGE_CHARS]
        with self._progress_lock:
            self._pending = entry
            now = self.clock()
            if self._last_write is None or now - self._last_write >= self.progress_interval:
                self._write_progress_locked()

    def flush_progress(self) -> None:
        with self._progress_lock:
            if self._pending is not None:
                self._write_progress_locked()

    def _write_progress_locked(self) -> None:
        entry, self._pending = self._pending, None
        if entry is None or self._progress_disabled:
            return
        self._last_write = self.clock()
        self.log("progress", percent=entry[PROGRESS_PERCENT], progressMessage=entry.get(PROGRESS_MESSAGE))
        if self.standalone:
            return
        try:
            self.client.update_item(
                self.table,
                self._key(),
                "SET #progress = :progress",
                "#executionArn = :exec AND #status = :running",
                {"#progress": ATTR_PROGRESS, "#executionArn": ATTR_EXECUTION_ARN, "#status": ATTR_STATUS},
                {":progress": entry, ":exec": self.execution_arn, ":running": STATUS_RUNNING},
            )
            self.progress_writes += 1
        except ConditionalCheckFailed:
            self._progress_disabled = True
            self.log("task is no longer Running for this execution (stopped?); progress is no longer written", "warn")
        except AwsError as error:
            # Progress is best effort: never fail the work because of it.
            self.log("progress write failed", "warn", error=str(error))

    # end --------------------------------------------------------------------------------------------

    def succeed(self, result) -> None:
        self.flush_progress()
        body = json.dumps(result, separators=(",", ":"), default=str).encode("utf-8")
        if len(body) > MAX_RESULT_BYTES:
            raise ValueError(
                f"the result is {len(body)} bytes of JSON; the limit is {MAX_RESULT_BYTES} bytes (128 KiB) — "
                "write large outputs to S3 and return their location"
            )
        if self.result_bucket and self.result_key:
            self.client.put_object(self.result_bucket, self.result_key, body, "application/json")
            self.log("succeeded", resultBucket=self.result_bucket, resultKey=self.result_key, bytes=len(body))
        else:
            self.log("succeeded", result=result)

    def fail(self, error: BaseException) -> None:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        message = f"{type(error).__name__}: {error}"
        if len(message) > MAX_ERROR_MESSAGE_CHARS:
            message = message[: MAX_ERROR_MESSAGE_CHARS - len(ERROR_MESSAGE_ELLIPSIS)] + ERROR_MESSAGE_ELLIPSIS
        self.log("failed", "error", error=message, traceback=text)
        if self.standalone:
            return
        try:
            self.flush_progress()
            self.client.update_item(
                self.table,
                self._key(),
                "SET #message = :message",
                "#executionArn = :exec",
                {"#message": ATTR_ERROR_MESSAGE, "#executionArn": ATTR_EXECUTION_ARN},
                {":message": message, ":exec": self.execution_arn},
            )
        except Exception as write_error:  # noqa: BLE001 - reporting must not hide the original error
            self.log("could not record the error on the task", "error", error=str(write_error))

    def execute(self, handler) -> int:
        """Runs handler(payload, task) through the whole lifecycle; returns the exit code."""
        try:
            current = self.start()
        except TaskNotRunnable as error:
            self.log(f"not running the work: {error}", "error", exitCode=EXIT_NOT_RUNNABLE)
            return EXIT_NOT_RUNNABLE
        except Exception as error:  # noqa: BLE001
            self.fail(error)
            return EXIT_FAILED
        try:
            with _sigterm_raises():
                result = handler(current.payload, current)
        except TaskTerminated:
            self.log("terminated by SIGTERM (stop, timeout or Spot interruption)", "warn", exitCode=EXIT_TERMINATED)
            self.fail(TaskTerminated("terminated by SIGTERM"))
            return EXIT_TERMINATED
        except Exception as error:  # noqa: BLE001
            self.fail(error)
            return exit_code_of(error)
        try:
            self.succeed(result)
        except Exception as error:  # noqa: BLE001
            self.fail(error)
            return EXIT_FAILED
        return EXIT_SUCCEEDED


@contextlib.contextmanager
def _sigterm_raises():
    """In the main thread, turns SIGTERM into TaskTerminated so workers can kill children."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigterm(signum, frame):
        raise TaskTerminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(handler, runtime: Runtime | None = None) -> None:
    """Runs handler(payload, task) → result as the container's task, then exits the process
    (0 succeeded, 1 failed, 2 failed permanently (PermanentError), 3 not runnable, 143 terminated)."""
    code = (runtime or Runtime()).execute(handler)
    sys.exit(code)


@contextlib.contextmanager
def task(runtime: Runtime | None = None):
    """``with task() as t:`` — the block is the work; ``t.set_result(value)`` gives the result.
    Exits the process with 3 when the task may not run and with 1 (2 for a PermanentError, 143 on
    SIGTERM) when the block raises; a block that completes writes the result and returns."""
    runtime = runtime or Runtime()
    try:
        current = runtime.start()
    except TaskNotRunnable as error:
        runtime.log(f"not running the work: {error}", "error", exitCode=EXIT_NOT_RUNNABLE)
        sys.exit(EXIT_NOT_RUNNABLE)
    except Exception as error:  # noqa: BLE001
        runtime.fail(error)
        sys.exit(EXIT_FAILED)
    try:
        with _sigterm_raises():
            yield current
    except TaskTerminated:
        runtime.fail(TaskTerminated("terminated by SIGTERM"))
        sys.exit(EXIT_TERMINATED)
    except Exception as error:  # noqa: BLE001
        runtime.fail(error)
        sys.exit(exit_code_of(error))
    try:
        runtime.succeed(current.result)
    except Exception as error:  # noqa: BLE001
        runtime.fail(error)
        sys.exit(EXIT_FAILED)
