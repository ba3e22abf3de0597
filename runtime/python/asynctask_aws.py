"""A small AWS client for the asynctask runtime helper (Python standard library only).

AWS Signature Version 4 (urllib + hmac), credentials from the environment or the ECS container
credentials endpoint, DynamoDB's JSON protocol (GetItem, UpdateItem) with attribute-value
conversion, and S3, with a few retries on throttling, 5xx and connection errors. It knows nothing
of tasks: asynctask_runtime builds the task lifecycle on it and re-exports the names workers and
tests use.

Its whole AWS surface:

- DynamoDB: GetItem, UpdateItem.
- S3: GetObject (in memory, or streamed to a file in 1 MiB reads: any size, constant memory),
  PutObject (in memory, or streamed from a file up to MULTIPART_THRESHOLD), and for larger files
  CreateMultipartUpload, UploadPart (parts of at least MIN_PART_SIZE, UPLOAD_CONCURRENCY at a
  time, each streamed from its slice of the file), CompleteMultipartUpload and, when any part
  fails, AbortMultipartUpload, so no upload is left behind. Objects up to S3's 5 TiB limit.

Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or from
AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI; the region from AWS_REGION /
AWS_DEFAULT_REGION; AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_DYNAMODB) points
every call at a local endpoint, and then S3 is path-style (``http://host/bucket/key``).
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime as _dt
import hashlib
import hmac
import http.client
import json
import mimetypes
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = [
    "AwsClient",
    "AwsError",
    "ConditionalCheckFailed",
    "Credentials",
    "CredentialProvider",
    "EMPTY_SHA256",
    "MAX_OBJECT_SIZE",
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "MULTIPART_THRESHOLD",
    "MultipartUploadError",
    "UPLOAD_CONCURRENCY",
    "from_attribute_value",
    "part_size_for",
    "item_from_attributes",
    "no_proxy_opener",
    "sign_request",
    "signing_key",
    "to_attribute_value",
]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
ECS_CREDENTIALS_HOST = "http://169.254.170.2"

MiB = 1024 * 1024
# S3's limits: 10,000 parts of 5 MiB to 5 GiB (the last may be smaller), objects up to 5 TiB.
MAX_PARTS = 10_000
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB
# Parts of at least 8 MiB: few requests, and well under the local S3's 11 MiB request limit.
MIN_PART_SIZE = 8 * MiB
# Files larger than one part go up in parts (a single PutObject stops at 5 GiB, locally 11 MiB).
MULTIPART_THRESHOLD = MIN_PART_SIZE
# Parts in flight at once: each streams from disk, so memory stays small whatever the part size.
UPLOAD_CONCURRENCY = 4
_READ_CHUNK = MiB

mimetypes.add_type("application/vnd.apple.mpegurl", ".m3u8")
mimetypes.add_type("video/mp2t", ".ts")
mimetypes.add_type("video/x-flv", ".flv")
mimetypes.add_type("video/webm", ".webm")


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


class MultipartUploadError(Exception):
    """A multipart upload failed; it was aborted (``aborted``) so none of its parts remain."""

    def __init__(self, message: str, bucket: str, key: str, upload_id: str | None, aborted: bool,
                 cause: BaseException | None = None):
        super().__init__(message)
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self.aborted = aborted
        self.cause = cause


def part_size_for(size: int, minimum: int = MIN_PART_SIZE) -> int:
    """The part size for a file of ``size`` bytes: ``minimum``, or larger (whole MiB) when the file
    would otherwise need more than MAX_PARTS parts."""
    if size > MAX_OBJECT_SIZE:
        raise ValueError(f"the file is {size} bytes; S3 objects are at most {MAX_OBJECT_SIZE} bytes (5 TiB)")
    needed = -(-size // MAX_PARTS)
    part = max(minimum, -(-needed // MiB) * MiB)
    return min(part, MAX_PART_SIZE)


class _FileSlice:
    """A read-only file object over ``length`` bytes of ``path`` from ``offset`` (one part's body)."""

    def __init__(self, path: str, offset: int, length: int):
        self._handle = open(path, "rb")
        self._handle.seek(offset)
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._handle.read(size)
        if not data:
            raise OSError(f"{self._handle.name} ended {self._left} bytes early (was it changed during the upload?)")
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _sha256_of(path: str, offset: int = 0, length: int | None = None) -> str:
    digest = hashlib.sha256()
    if length is None:
        length = os.path.getsize(path) - offset
    with _FileSlice(path, offset, length) as handle:
        for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()



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


def no_proxy_opener() -> urllib.request.OpenerDirector:
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
                    with no_proxy_opener().open(request, timeout=5) as response:
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
        self._opener = no_proxy_opener() if local else urllib.request.build_opener()

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
                        try:
                            with open(tmp, "wb") as out:
                                for chunk in iter(lambda: response.read(_READ_CHUNK), b""):
                                    out.write(chunk)
                            expected = response.headers.get("Content-Length")
                            if expected is not None and os.path.getsize(tmp) != int(expected):
                                raise http.client.IncompleteRead(b"", int(expected) - os.path.getsize(tmp))
                            os.replace(tmp, stream_to)
                        except BaseException:
                            # Never leave a half-written file behind (disk space, a later misread).
                            with contextlib.suppress(OSError):
                                os.remove(tmp)
                            raise
                        return status, dict(response.headers), None
                    payload = response.read()
                    if status < 300:
                        return status, dict(response.headers), payload
                    error = self._error(service, operation, status, response.headers, payload, resource)
                if status >= 500 or error.code in _RETRYABLE_CODES:
                    last_error = error
                else:
                    raise error
            except (OSError, http.client.HTTPException) as network_error:  # URLError, resets, timeouts, cut bodies
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

    def list_objects(self, bucket: str, prefix: str = "", page_size: int = 1000) -> list[dict]:
        """ListObjectsV2 of every page under ``prefix``: ``[{"key", "size"}]`` in key order."""
        import xml.etree.ElementTree as ElementTree

        url = self.s3_url(bucket, "")
        if url.endswith(f"/{bucket}/"):
            url = url[:-1]  # path-style: the bucket is the resource, no trailing slash
        objects: list[dict] = []
        token = None
        while True:
            query = {"list-type": "2", "max-keys": str(page_size), "prefix": prefix}
            if token:
                query["continuation-token"] = token
            encoded = "&".join(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in sorted(query.items()))
            _, _, payload = self._send("s3", "ListObjectsV2", "GET", f"{url}?{encoded}",
                                       {"x-amz-content-sha256": EMPTY_SHA256}, resource=f"s3://{bucket}/{prefix}")
            root = ElementTree.fromstring(payload)
            fields = {child.tag.rsplit("}", 1)[-1]: child for child in root}
            for node in root:
                if node.tag.rsplit("}", 1)[-1] == "Contents":
                    values = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in node}
                    objects.append({"key": values.get("Key", ""), "size": int(values.get("Size") or 0)})
            truncated = fields.get("IsTruncated")
            next_token = fields.get("NextContinuationToken")
            if truncated is None or truncated.text != "true" or next_token is None or not next_token.text:
                return objects
            token = next_token.text

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

    def upload(self, path: str, bucket: str, key: str, content_type: str | None = None,
               part_size: int | None = None, concurrency: int = UPLOAD_CONCURRENCY) -> int:
        """Uploads a file to s3://bucket/key, streamed from disk; returns its size.

        Up to one part (``part_size``, default MIN_PART_SIZE or more for very large files) it is
        one PutObject; larger files go up as a multipart upload, ``concurrency`` parts at a time.
        A multipart upload that fails is aborted, and MultipartUploadError says which part failed
        and why.
        """
        size = os.path.getsize(path)
        content_type = content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
        part = part_size or part_size_for(size)
        if part < 5 * MiB:
            raise ValueError(f"part_size must be at least 5 MiB (5242880 bytes; given {part})")
        if size <= part:
            self._put_file(path, bucket, key, size, content_type)
        else:
            self._multipart_upload(path, bucket, key, size, part, content_type, max(1, concurrency))
        return size

    def _put_file(self, path: str, bucket: str, key: str, size: int, content_type: str) -> None:
        payload_hash = _sha256_of(path, 0, size)
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(size),
            "x-amz-content-sha256": payload_hash,
        }
        self._send("s3", "PutObject", "PUT", self.s3_url(bucket, key), headers,
                   payload_hash=payload_hash, body_factory=lambda: _FileSlice(path, 0, size),
                   resource=f"s3://{bucket}/{key}")

    # -- multipart ----------------------------------------------------------------------------

    def _s3_xml(self, operation: str, method: str, bucket: str, key: str, query: str, body: bytes = b"",
                headers: dict | None = None) -> str:
        digest = hashlib.sha256(body).hexdigest()
        sent = {"x-amz-content-sha256": digest, **(headers or {})}
        if body:
            sent["Content-Length"] = str(len(body))
        status, _, payload = self._send("s3", operation, method, f"{self.s3_url(bucket, key)}?{query}", sent,
                                        body=body or None, payload_hash=digest, resource=f"s3://{bucket}/{key}")
        text = (payload or b"").decode("utf-8", "replace")
        # CompleteMultipartUpload may answer 200 and still fail: the error is in the body.
        if "<Error>" in text:
            raise self._error("s3", operation, status, {}, payload, f"s3://{bucket}/{key}")
        return text

    def create_multipart_upload(self, bucket: str, key: str, content_type: str) -> str:
        text = self._s3_xml("CreateMultipartUpload", "POST", bucket, key, "uploads",
                            headers={"Content-Type": content_type})
        found = re.search(r"<UploadId>(.*?)</UploadId>", text, re.S)
        if not found:
            raise AwsError("s3", "CreateMultipartUpload", 200, "MalformedResponse",
                           f"no UploadId in the answer: {text[:200]}", f"s3://{bucket}/{key}")
        return found.group(1).strip()

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, path: str, offset: int,
                    length: int) -> str:
        """UploadPart of ``length`` bytes of ``path`` from ``offset``; returns the part's ETag."""
        payload_hash = _sha256_of(path, offset, length)
        query = urllib.parse.urlencode({"partNumber": number, "uploadId": upload_id})
        # An explicit type: urllib would send form-urlencoded, which a server may try to parse.
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(length),
                   "x-amz-content-sha256": payload_hash}
        _, answer, _ = self._send("s3", "UploadPart", "PUT", f"{self.s3_url(bucket, key)}?{query}", headers,
                                  payload_hash=payload_hash, body_factory=lambda: _FileSlice(path, offset, length),
                                  resource=f"s3://{bucket}/{key} part {number}")
        etag = next((v for k, v in answer.items() if k.lower() == "etag"), None)
        if not etag:
            raise AwsError("s3", "UploadPart", 200, "MalformedResponse", "no ETag in the answer",
                           f"s3://{bucket}/{key} part {number}")
        return etag

    def complete_multipart_upload(self, bucket: str, key: str, upload_id: str, etags: list[str]) -> None:
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{_xml_escape(etag)}</ETag></Part>"
            for n, etag in enumerate(etags, start=1)
        )
        body = f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{parts}</CompleteMultipartUpload>'
        self._s3_xml("CompleteMultipartUpload", "POST", bucket, key,
                     urllib.parse.urlencode({"uploadId": upload_id}), body.encode("utf-8"),
                     {"Content-Type": "application/xml"})

    def abort_multipart_upload(self, bucket: str, key: str, upload_id: str) -> None:
        try:
            self._s3_xml("AbortMultipartUpload", "DELETE", bucket, key, urllib.parse.urlencode({"uploadId": upload_id}))
        except AwsError as error:
            if error.code != "NoSuchUpload":  # already gone: nothing is left behind
                raise

    def _multipart_upload(self, path: str, bucket: str, key: str, size: int, part_size: int,
                          content_type: str, concurrency: int) -> None:
        count = -(-size // part_size)
        if count > MAX_PARTS:
            raise ValueError(f"{path} ({size} bytes) needs {count} parts of {part_size} bytes; "
                             f"S3 allows at most {MAX_PARTS}: use a larger part_size")
        where = f"s3://{bucket}/{key}"
        upload_id = self.create_multipart_upload(bucket, key, content_type)
        etags: list[str | None] = [None] * count
        failed: tuple[int, BaseException] | None = None
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(concurrency, count),
                                                     thread_name_prefix="s3-part")
        futures: dict = {}
        try:
            for index in range(count):
                offset = index * part_size
                length = min(part_size, size - offset)
                futures[pool.submit(self.upload_part, bucket, key, upload_id, index + 1, path, offset, length)] = index
            for future in concurrent.futures.as_completed(futures):
                index = futures[future]
                error = future.exception()
                if error is not None:
                    failed = (index + 1, error)
                    break
                etags[index] = future.result()
            if failed is None:
                if os.path.getsize(path) != size:
                    raise OSError(f"{path} changed size during the upload ({size} → {os.path.getsize(path)} bytes)")
                self.complete_multipart_upload(bucket, key, upload_id, [e for e in etags if e is not None])
                return
        except BaseException as error:  # noqa: BLE001 - abort on anything, SIGTERM included
            failed = failed or (0, error)
        finally:
            for future in futures:
                future.cancel()
            pool.shutdown(wait=True)
        number, cause = failed
        try:
            self.abort_multipart_upload(bucket, key, upload_id)
            aborted, outcome = True, "the upload was aborted, no part of it remains"
        except Exception as abort_error:  # noqa: BLE001
            aborted = False
            outcome = (f"aborting it failed too ({abort_error}): parts of upload {upload_id} remain until a "
                       "lifecycle rule removes incomplete multipart uploads")
        at = f"part {number} of {count}" if number else "completing it"
        message = (f"multipart upload of {path} ({size} bytes, {count} parts of {part_size} bytes) to {where} "
                   f"failed at {at}: {cause}; {outcome}")
        if not isinstance(cause, Exception):
            raise cause  # SIGTERM / KeyboardInterrupt: the upload is aborted, the interruption goes on
        raise MultipartUploadError(message, bucket, key, upload_id, aborted, cause) from cause


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
