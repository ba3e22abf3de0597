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
   logged; exit code 1. SIGTERM (a stop, a timeout, a Spot interruption) ends the work with
   exit code 143.

Usage::

    from asynctask_runtime import run

    def handler(payload, task):
        task.progress(50, "half way")
        return {"answer": 42}

    run(handler)

or ``with task() as t: ...; t.set_result(value)``.

Everything talks to AWS through a tiny SigV4-signing client (urllib + hmac): DynamoDB's JSON
protocol (GetItem, UpdateItem) and S3 (GetObject, PutObject). Credentials come from the
environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or from the ECS
container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI); the region
from AWS_REGION / AWS_DEFAULT_REGION; AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3 /
AWS_ENDPOINT_URL_DYNAMODB) points every call at a local endpoint, and then S3 is path-style
(``http://host/bucket/key``).

Every log line is one JSON object on stdout carrying ``taskId``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import hmac
import json
import mimetypes
import os
import re
import signal
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "AwsClient",
    "AwsError",
    "ConditionalCheckFailed",
    "Credentials",
    "CredentialProvider",
    "Runtime",
    "Task",
    "TaskNotRunnable",
    "TaskTerminated",
    "EXIT_SUCCEEDED",
    "EXIT_FAILED",
    "EXIT_NOT_RUNNABLE",
    "EXIT_TERMINATED",
    "sign_request",
    "to_attribute_value",
    "from_attribute_value",
    "run",
    "task",
]

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_NOT_RUNNABLE = 3
EXIT_TERMINATED = 128 + signal.SIGTERM

# Names shared with lambda/model/execution.ts (CONTAINER_ENV) — keep in step.
ENV_TASK_ID = "TASK_ID"
ENV_FUNCTION = "TASK_FUNCTION"
ENV_ATTEMPT = "ATTEMPT"
ENV_REQUEST_ID = "TASK_REQUEST_ID"
ENV_EXECUTION_ARN = "TASK_EXECUTION_ARN"
ENV_DEADLINE = "TASK_DEADLINE"
ENV_TABLE = "TASK_TABLE"
ENV_RESULT_BUCKET = "TASK_RESULT_BUCKET"
ENV_RESULT_KEY = "TASK_RESULT_KEY"
# Set by the construct so the helper can record the CloudWatch log stream of the attempt.
ENV_LOG_STREAM_PREFIX = "TASK_LOG_STREAM_PREFIX"
ENV_CONTAINER_NAME = "TASK_CONTAINER_NAME"
# Explicit log stream name (the local runtime may set it instead of the prefix).
ENV_LOG_STREAM = "TASK_LOG_STREAM"
# Set by the local runtime: the ARN of the emulated ECS task (used when there is no metadata endpoint).
ENV_LOCAL_TASK_ARN = "ASYNCTASK_LOCAL_TASK_ARN"
# Standalone mode (no TASK_TABLE): the payload as JSON text.
ENV_PAYLOAD = "TASK_PAYLOAD"

PROGRESS_INTERVAL_SECONDS = 5.0
# Same limit as MAX_PAYLOAD_BYTES in lambda/model/record.ts: the result becomes returnPayload.
MAX_RESULT_BYTES = 128 * 1024
MAX_ERROR_MESSAGE_CHARS = 4000

STATUS_RUNNING = "Running"
# TRANSITIONS.Running in lambda/model/statuses.ts.
RUNNING_FROM = ("Enqueued", "Dequeued", "Retrying")

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ECS_CREDENTIALS_HOST = "http://169.254.170.2"

mimetypes.add_type("application/vnd.apple.mpegurl", ".m3u8")
mimetypes.add_type("video/mp2t", ".ts")
mimetypes.add_type("video/x-flv", ".flv")
mimetypes.add_type("video/webm", ".webm")


def iso_now(epoch_seconds: float | None = None) -> str:
    """ISO-8601 UTC with milliseconds, the format of every time stored in the tasks table."""
    if epoch_seconds is None:
        epoch_seconds = time.time()
    moment = _dt.datetime.fromtimestamp(epoch_seconds, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class AwsError(Exception):
    """An AWS API answered with an error (or could not be reached)."""

    def __init__(self, service: str, operation: str, status: int, code: str, message: str, resource: str | None = None):
        where = f" {resource}" if resource else ""
        super().__init__(f"{service} {operation}{where} failed: HTTP {status} {code}: {message}")
        self.resource = resource
        self.service = service
        self.operation = operation
        self.status = status
        self.code = code
        self.aws_message = message


class ConditionalCheckFailed(AwsError):
    """DynamoDB rejected a conditional write."""


class TaskNotRunnable(Exception):
    """The task may not be moved to Running by this attempt (exit code 3)."""


class TaskTerminated(BaseException):
    """Raised in the main thread on SIGTERM; a BaseException so `except Exception` lets it pass."""


# --------------------------------------------------------------------------------------------
# SigV4
# --------------------------------------------------------------------------------------------


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _uri_encode(value: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(value, safe=safe)


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    encoded = sorted((_uri_encode(k), _uri_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _host_header(parts: urllib.parse.SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default_port = 443 if parts.scheme == "https" else 80
    if parts.port and parts.port != default_port:
        host = f"{host}:{parts.port}"
    return host


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def sign_request(
    method: str,
    url: str,
    headers: dict,
    payload_hash: str,
    credentials: "Credentials",
    region: str,
    service: str,
    now: _dt.datetime | None = None,
) -> dict:
    """Signs a request with AWS Signature Version 4 and returns the headers to send.

    ``headers`` are signed as given (plus Host when absent, X-Amz-Date and, with a session
    token, X-Amz-Security-Token). The URL path must already be URI-encoded. S3 paths are used
    as they are; other services' paths are encoded once more, as SigV4 specifies.
    """
    if now is None:
        now = _dt.datetime.now(_dt.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urllib.parse.urlsplit(url)
    out = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "x-amz-date")}
    if not any(k.lower() == "host" for k in out):
        out["Host"] = _host_header(parts)
    out["X-Amz-Date"] = amz_date
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token

    path = parts.path or "/"
    # S3 signs the encoded path as it is; other services encode it once more ('%' → '%25').
    canonical_uri = path if service == "s3" else _uri_encode(path, safe="/-_.~")
    canonical_headers: dict[str, str] = {}
    for name, value in out.items():
        lname = name.lower()
        cleaned = re.sub(r"\s+", " ", str(value).strip())
        canonical_headers[lname] = (
            f"{canonical_headers[lname]},{cleaned}" if lname in canonical_headers else cleaned
        )
    signed = sorted(canonical_headers)
    signed_headers = ";".join(signed)
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri,
            _canonical_query(parts.query),
            "".join(f"{name}:{canonical_headers[name]}\n" for name in signed),
            signed_headers,
            payload_hash,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    signature = hmac.new(
        signing_key(credentials.secret_key, date, region, service),
        string_to_sign.encode("utf-8"),
        hashlib.sha256,
    ).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return out


# --------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------


class Credentials:
    def __init__(self, access_key: str, secret_key: str, token: str | None = None, expiration: float | None = None):
        self.access_key = access_key
        self.secret_key = secret_key
        self.token = token or None
        # Epoch seconds, or None for static credentials.
        self.expiration = expiration


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _parse_expiration(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class CredentialProvider:
    """Environment credentials first, then the ECS container credentials endpoint (cached and
    refreshed five minutes before they expire)."""

    REFRESH_MARGIN_SECONDS = 300

    def __init__(self, env=None, allow_anonymous: bool = False):
        self.env = os.environ if env is None else env
        self.allow_anonymous = allow_anonymous
        self._cached: Credentials | None = None
        self._lock = threading.Lock()

    def get(self) -> Credentials:
        with self._lock:
            cached = self._cached
            if cached is not None and (
                cached.expiration is None or cached.expiration - time.time() > self.REFRESH_MARGIN_SECONDS
            ):
                return cached
            self._cached = self._load()
            return self._cached

    def _load(self) -> Credentials:
        env = self.env
        access_key = env.get("AWS_ACCESS_KEY_ID")
        secret_key = env.get("AWS_SECRET_ACCESS_KEY")
        if access_key and secret_key:
            return Credentials(access_key, secret_key, env.get("AWS_SESSION_TOKEN"))
        relative = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        full = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        if relative or full:
            url = ECS_CREDENTIALS_HOST + relative if relative else full
            headers = {}
            token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
            token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            if token_file:
                with open(token_file, encoding="utf-8") as handle:
                    token = handle.read().strip()
            if token:
                headers["Authorization"] = token
            last_error: Exception | None = None
            for attempt in range(3):
                try:
                    request = urllib.request.Request(url, headers=headers)
                    with _no_proxy_opener().open(request, timeout=5) as response:
                        data = json.loads(response.read().decode("utf-8"))
                    return Credentials(
                        data["AccessKeyId"],
                        data["SecretAccessKey"],
                        data.get("Token"),
                        _parse_expiration(data.get("Expiration")),
                    )
                except (OSError, ValueError, KeyError) as error:
                    last_error = error
                    time.sleep(0.2 * (attempt + 1))
            raise RuntimeError(f"could not read container credentials from {url}: {last_error}")
        if self.allow_anonymous:
            # A local endpoint (AWS_ENDPOINT_URL) accepts any signature.
            return Credentials("local", "local")
        raise RuntimeError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where "
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / AWS_CONTAINER_CREDENTIALS_FULL_URI is set (ECS)"
        )


# --------------------------------------------------------------------------------------------
# DynamoDB attribute values
# --------------------------------------------------------------------------------------------


def to_attribute_value(value) -> dict:
    """Python value → DynamoDB attribute value (JSON protocol)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise ValueError(f"DynamoDB numbers must be finite (given {value})")
        text = repr(value) if isinstance(value, float) else str(value)
        return {"N": text}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (bytes, bytearray)):
        import base64

        return {"B": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute_value(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {str(k): to_attribute_value(v) for k, v in value.items()}}
    if isinstance(value, (set, frozenset)):
        items = list(value)
        if all(isinstance(v, str) for v in items):
            return {"SS": sorted(items)}
        return {"NS": sorted(str(v) for v in items)}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def from_attribute_value(av: dict):
    """DynamoDB attribute value → Python value."""
    (kind, value), = av.items()
    if kind == "S":
        return value
    if kind == "N":
        number = float(value)
        return int(number) if number.is_integer() and re.fullmatch(r"-?\d+", value) else number
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "L":
        return [from_attribute_value(v) for v in value]
    if kind == "M":
        return {k: from_attribute_value(v) for k, v in value.items()}
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {float(v) if "." in v else int(v) for v in value}
    if kind == "B":
        import base64

        return base64.b64decode(value)
    raise ValueError(f"unknown DynamoDB attribute type {kind}")


def item_from_attributes(item: dict) -> dict:
    return {k: from_attribute_value(v) for k, v in item.items()}


# --------------------------------------------------------------------------------------------
# AWS client
# --------------------------------------------------------------------------------------------

_RETRYABLE_CODES = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "InternalError",
}


class AwsClient:
    """DynamoDB (JSON protocol) and S3 calls, signed with SigV4, with a few retries."""

    def __init__(self, env=None, credentials: CredentialProvider | None = None, timeout: float = 60.0,
                 max_attempts: int = 4, retry_base_delay: float = 0.25):
        self.env = os.environ if env is None else env
        self.region = self.env.get("AWS_REGION") or self.env.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = (self.env.get("AWS_ENDPOINT_URL") or "").rstrip("/")
        self.s3_endpoint = (self.env.get("AWS_ENDPOINT_URL_S3") or endpoint).rstrip("/")
        self.dynamodb_endpoint = (self.env.get("AWS_ENDPOINT_URL_DYNAMODB") or endpoint).rstrip("/")
        self.credentials = credentials or CredentialProvider(self.env, allow_anonymous=bool(endpoint))
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_base_delay = retry_base_delay
        local = bool(self.s3_endpoint or self.dynamodb_endpoint)
        # A local endpoint must not go through a proxy configured for the internet.
        self._opener = _no_proxy_opener() if local else urllib.request.build_opener()

    # -- plumbing ---------------------------------------------------------------------------

    def _dns_suffix(self) -> str:
        return "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"

    def _send(self, service: str, operation: str, method: str, url: str, headers: dict,
              body=None, payload_hash: str = EMPTY_SHA256, body_factory=None, stream_to=None,
              resource: str | None = None):
        """Sends one signed request, retrying throttling, 5xx and connection errors.

        ``body_factory`` (a callable returning a fresh file object) is used for streamed
        uploads; ``stream_to`` (a path) streams the response body to a file.
        Returns (status, headers, body bytes or None when streamed).
        """
        last_error: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            handle = None
            try:
                signed = sign_request(method, url, headers, payload_hash, self.credentials.get(),
                                      self.region, service)
                data = body
                if body_factory is not None:
                    handle = body_factory()
                    data = handle
                request = urllib.request.Request(url, data=data, method=method, headers=signed)
                try:
                    response = self._opener.open(request, timeout=self.timeout)
                except urllib.error.HTTPError as http_error:
                    response = http_error
                with response:
                    status = response.status if hasattr(response, "status") else response.code
                    if status < 300 and stream_to is not None:
                        tmp = f"{stream_to}.part"
                        with open(tmp, "wb") as out:
                            while True:
                                chunk = response.read(1024 * 1024)
                                if not chunk:
                                    break
                                out.write(chunk)
                        os.replace(tmp, stream_to)
                        return status, dict(response.headers), None
                    payload = response.read()
                    if status < 300:
                        return status, dict(response.headers), payload
                    error = self._error(service, operation, status, response.headers, payload, resource)
                if status >= 500 or error.code in _RETRYABLE_CODES:
                    last_error = error
                else:
                    raise error
            except OSError as network_error:  # URLError, ConnectionError, timeouts
                last_error = AwsError(service, operation, 0, type(network_error).__name__, str(network_error), resource)
            finally:
                if handle is not None:
                    handle.close()
            if attempt < self.max_attempts:
                time.sleep(self.retry_base_delay * (2 ** (attempt - 1)))
        assert last_error is not None
        raise last_error

    @staticmethod
    def _error(service: str, operation: str, status: int, headers, payload: bytes, resource: str | None = None) -> AwsError:
        text = payload.decode("utf-8", "replace")
        code = "Unknown"
        message = text[:500]
        if service == "dynamodb":
            try:
                data = json.loads(text)
                code = str(data.get("__type", "Unknown")).rsplit("#", 1)[-1]
                message = data.get("message") or data.get("Message") or ""
            except ValueError:
                pass
        else:
            found = re.search(r"<Code>(.*?)</Code>", text)
            if found:
                code = found.group(1)
            found = re.search(r"<Message>(.*?)</Message>", text, re.S)
            if found:
                message = found.group(1)
            elif status == 404:
                code, message = "NoSuchKey", "not found"
        cls = ConditionalCheckFailed if code == "ConditionalCheckFailedException" else AwsError
        return cls(service, operation, status, code, message, resource)

    # -- DynamoDB ---------------------------------------------------------------------------

    def dynamodb(self, operation: str, params: dict) -> dict:
        url = self.dynamodb_endpoint + "/" if self.dynamodb_endpoint else \
            f"https://dynamodb.{self.region}.{self._dns_suffix()}/"
        body = json.dumps(params, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        }
        _, _, payload = self._send("dynamodb", operation, "POST", url, headers, body=body,
                                   payload_hash=hashlib.sha256(body).hexdigest(),
                                   resource=f"table {params.get('TableName')}")
        return json.loads(payload.decode("utf-8") or "{}")

    def get_item(self, table: str, key: dict, consistent: bool = True) -> dict | None:
        answer = self.dynamodb("GetItem", {
            "TableName": table,
            "Key": {k: to_attribute_value(v) for k, v in key.items()},
            "ConsistentRead": consistent,
        })
        item = answer.get("Item")
        return item_from_attributes(item) if item else None

    def update_item(self, table: str, key: dict, update: str, condition: str | None = None,
                    names: dict | None = None, values: dict | None = None) -> dict:
        params: dict = {
            "TableName": table,
            "Key": {k: to_attribute_value(v) for k, v in key.items()},
            "UpdateExpression": update,
        }
        if condition:
            params["ConditionExpression"] = condition
        if names:
            params["ExpressionAttributeNames"] = names
        if values:
            params["ExpressionAttributeValues"] = {k: to_attribute_value(v) for k, v in values.items()}
        return self.dynamodb("UpdateItem", params)

    # -- S3 ---------------------------------------------------------------------------------

    def s3_url(self, bucket: str, key: str) -> str:
        if not bucket:
            raise ValueError("S3 bucket name is empty")
        path_key = _uri_encode(key, safe="/-_.~")
        if self.s3_endpoint:
            return f"{self.s3_endpoint}/{bucket}/{path_key}"
        suffix = self._dns_suffix()
        if re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", bucket):
            return f"https://{bucket}.s3.{self.region}.{suffix}/{path_key}"
        return f"https://s3.{self.region}.{suffix}/{bucket}/{path_key}"

    def get_object(self, bucket: str, key: str) -> bytes:
        _, _, payload = self._send("s3", "GetObject", "GET", self.s3_url(bucket, key),
                                   {"x-amz-content-sha256": EMPTY_SHA256}, resource=f"s3://{bucket}/{key}")
        return payload

    def download(self, bucket: str, key: str, path: str) -> int:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._send("s3", "GetObject", "GET", self.s3_url(bucket, key),
                   {"x-amz-content-sha256": EMPTY_SHA256}, stream_to=path, resource=f"s3://{bucket}/{key}")
        return os.path.getsize(path)

    def put_object(self, bucket: str, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        digest = hashlib.sha256(body).hexdigest()
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "x-amz-content-sha256": digest,
        }
        self._send("s3", "PutObject", "PUT", self.s3_url(bucket, key), headers, body=body, payload_hash=digest,
                   resource=f"s3://{bucket}/{key}")

    def upload(self, path: str, bucket: str, key: str, content_type: str | None = None) -> int:
        """PutObject of a file, streamed from disk (single request: up to 5 GB)."""
        size = os.path.getsize(path)
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                digest.update(chunk)
        payload_hash = digest.hexdigest()
        headers = {
            "Content-Type": content_type or mimetypes.guess_type(path)[0] or "application/octet-stream",
            "Content-Length": str(size),
            "x-amz-content-sha256": payload_hash,
        }
        self._send("s3", "PutObject", "PUT", self.s3_url(bucket, key), headers,
                   payload_hash=payload_hash, body_factory=lambda: open(path, "rb"), resource=f"s3://{bucket}/{key}")
        return size


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
        """Downloads s3://bucket/key to path (streamed); returns its size in bytes."""
        started = time.monotonic()
        size = self._runtime.client.download(bucket, key, path)
        self.log("downloaded", bucket=bucket, key=key, path=path, bytes=size,
                 seconds=round(time.monotonic() - started, 3))
        return size

    def upload(self, path: str, bucket: str, key: str, content_type: str | None = None) -> dict:
        """Uploads a file to s3://bucket/key; returns {bucket, key, bytes}."""
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
        """No tasks table: run the handler on TASK_PAYLOAD without any status writes."""
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
        return {"functionName": self.function_name, "taskId": self.task_id}

    def _check_env(self) -> None:
        required = [ENV_TASK_ID, ENV_FUNCTION, ENV_EXECUTION_ARN, ENV_TABLE, ENV_RESULT_BUCKET, ENV_RESULT_KEY]
        missing = [name for name in required if not self.env.get(name)]
        if missing:
            raise RuntimeError(
                f"missing environment variable(s) {', '.join(missing)}: the container must be started "
                "by the task function's state machine (or set TASK_PAYLOAD without TASK_TABLE to run standalone)"
            )

    def _discover_runner(self) -> None:
        metadata = self.env.get("ECS_CONTAINER_METADATA_URI_V4")
        task_arn = None
        awslogs_stream = None
        if metadata:
            opener = _no_proxy_opener()
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
        # The local runtime (asynctask dev) names its emulated ECS task in ASYNCTASK_LOCAL_TASK_ARN.
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
            self.log("running standalone (no TASK_TABLE): no status writes")
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
        names = {"#status": "status"}
        values = {
            ":running": STATUS_RUNNING,
            ":statusKey": f"{self.function_name}#{STATUS_RUNNING}",
            ":runner": self.runner_id,
            ":exec": self.execution_arn,
            ":enq": RUNNING_FROM[0],
            ":deq": RUNNING_FROM[1],
            ":retrying": RUNNING_FROM[2],
            ":now": now,
            ":empty": [],
            ":event": [{
                "status": STATUS_RUNNING,
                "at": now,
                "detail": f"attempt {self.attempt} on {self.runner_id}",
            }],
        }
        sets = [
            "#status = :running",
            "statusKey = :statusKey",
            "runnerId = :runner",
            "events = list_append(if_not_exists(events, :empty), :event)",
        ]
        if self.log_stream:
            sets.append("logStream = :logStream")
            values[":logStream"] = self.log_stream
        try:
            self.client.update_item(
                self.table,
                self._key(),
                "SET " + ", ".join(sets),
                "executionArn = :exec AND #status IN (:enq, :deq, :retrying) AND deadline > :now",
                names,
                values,
            )
        except ConditionalCheckFailed:
            # A retried request whose first try did succeed (response lost) also lands here:
            # read again and accept a task this very runner already marked Running.
            fresh = self.client.get_item(self.table, self._key(), consistent=True) or item
            if (fresh.get("status") == STATUS_RUNNING and fresh.get("executionArn") == self.execution_arn
                    and fresh.get("runnerId") == self.runner_id):
                item = fresh
            else:
                raise self._not_runnable(fresh, now) from None
        payload_text = item.get("taskPayload")
        payload = json.loads(payload_text) if isinstance(payload_text, str) and payload_text != "" else payload_text
        self.log("running", runnerId=self.runner_id, logStream=self.log_stream, executionArn=self.execution_arn)
        self.task = Task(self, payload, item)
        return self.task

    def _not_runnable(self, item: dict, now: str) -> TaskNotRunnable:
        owner = item.get("executionArn")
        reasons = []
        if owner != self.execution_arn:
            reasons.append(f"it belongs to execution '{owner}', not this one ('{self.execution_arn}')")
        if item.get("status") not in RUNNING_FROM:
            reasons.append(f"its status is {item.get('status')} (Running is allowed from {', '.join(RUNNING_FROM)})")
        if str(item.get("deadline", "")) <= now:
            reasons.append(f"its deadline {item.get('deadline')} has passed (now {now})")
        return TaskNotRunnable(
            f"task '{self.task_id}' may not start running: " + ("; ".join(reasons) or "the task changed meanwhile")
        )

    # progress -------------------------------------------------------------------------------------

    def report_progress(self, percent: float, message: str | None = None) -> None:
        if isinstance(percent, bool) or not isinstance(percent, (int, float)) or percent != percent:
            raise ValueError(f"progress percent must be a number between 0 and 100 (given {percent!r})")
        percent = max(0.0, min(100.0, float(percent)))
        percent = int(percent) if percent.is_integer() else round(percent, 2)
        entry = {"percent": percent, "updatedAt": iso_now(self.wall_clock())}
        if message is not None:
            entry["message"] = str(message)[:1000]
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
        self.log("progress", percent=entry["percent"], progressMessage=entry.get("message"))
        if self.standalone:
            return
        try:
            self.client.update_item(
                self.table,
                self._key(),
                "SET progress = :progress",
                "executionArn = :exec AND #status = :running",
                {"#status": "status"},
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
            message = message[: MAX_ERROR_MESSAGE_CHARS - 1] + "…"
        self.log("failed", "error", error=message, traceback=text)
        if self.standalone:
            return
        try:
            self.flush_progress()
            self.client.update_item(
                self.table,
                self._key(),
                "SET taskErrorMessage = :message",
                "executionArn = :exec",
                None,
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
            return EXIT_FAILED
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
    (0 succeeded, 1 failed, 3 not runnable, 143 terminated)."""
    code = (runtime or Runtime()).execute(handler)
    sys.exit(code)


@contextlib.contextmanager
def task(runtime: Runtime | None = None):
    """``with task() as t:`` — the block is the work; ``t.set_result(value)`` gives the result.
    Exits the process with 3 when the task may not run and with 1 (143 on SIGTERM) when the block
    raises; a block that completes writes the result and returns."""
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
        sys.exit(EXIT_FAILED)
    try:
        runtime.succeed(current.result)
    except Exception as error:  # noqa: BLE001
        runtime.fail(error)
        sys.exit(EXIT_FAILED)
