"""An in-process fake of the few AWS APIs the container runtime helper calls.

One ``http.server`` on 127.0.0.1 answers:

- DynamoDB JSON protocol (``POST /`` with ``X-Amz-Target: DynamoDB_20120810.<Op>``): GetItem and
  UpdateItem on in-memory tables, evaluating the subset of update / condition expressions the
  helper writes (SET with ``list_append(if_not_exists(...))``; ``=``, ``>``, ``IN`` and ``AND``).
- S3 path-style GetObject / PutObject (``/bucket/key``).
- ``GET /metadata/task`` (ECS task metadata v4) and ``GET /credentials`` (container credentials).

Every request is recorded (method, path, headers, body) so tests can check targets, expressions
and signing headers.

``LocalAws`` (below) is the other kind of backend: the local runtime's real S3 and DynamoDB.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorded:
    def __init__(self, method: str, path: str, headers: dict, body: bytes):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    @property
    def target(self) -> str | None:
        return self.headers.get("x-amz-target")

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))


def _split_top(text: str, sep: str = ",") -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


class ExpressionError(Exception):
    pass


def _name(token: str, names: dict) -> str:
    token = token.strip()
    return names.get(token, token) if token.startswith("#") else token


def _value(token: str, item: dict, names: dict, values: dict):
    token = token.strip()
    if token.startswith(":"):
        if token not in values:
            raise ExpressionError(f"value {token} not defined")
        return copy.deepcopy(values[token])
    found = re.fullmatch(r"list_append\((.*)\)", token)
    if found:
        left, right = _split_top(found.group(1))
        a, b = _value(left, item, names, values), _value(right, item, names, values)
        return {"L": a["L"] + b["L"]}
    found = re.fullmatch(r"if_not_exists\((.*)\)", token)
    if found:
        path, default = _split_top(found.group(1))
        attr = _name(path, names)
        return copy.deepcopy(item[attr]) if attr in item else _value(default, item, names, values)
    attr = _name(token, names)
    if attr not in item:
        raise ExpressionError(f"attribute {attr} missing")
    return copy.deepcopy(item[attr])


def _compare_key(av: dict):
    (kind, value), = av.items()
    return float(value) if kind == "N" else value


def evaluate_condition(condition: str, item: dict, names: dict, values: dict) -> bool:
    for clause in re.split(r"\s+AND\s+", condition.strip()):
        clause = clause.strip()
        found = re.fullmatch(r"attribute_exists\((.+)\)", clause)
        if found:
            if _name(found.group(1), names) not in item:
                return False
            continue
        found = re.fullmatch(r"attribute_not_exists\((.+)\)", clause)
        if found:
            if _name(found.group(1), names) in item:
                return False
            continue
        found = re.fullmatch(r"(\S+)\s+IN\s+\((.*)\)", clause)
        if found:
            attr = _name(found.group(1), names)
            if attr not in item:
                return False
            options = [values[v.strip()] for v in found.group(2).split(",")]
            if item[attr] not in options:
                return False
            continue
        found = re.fullmatch(r"(\S+)\s*(=|<>|>|<|>=|<=)\s*(\S+)", clause)
        if not found:
            raise ExpressionError(f"unsupported condition clause '{clause}'")
        attr = _name(found.group(1), names)
        if attr not in item:
            return False
        left, right = _compare_key(item[attr]), _compare_key(values[found.group(3)])
        op = found.group(2)
        ok = {
            "=": left == right,
            "<>": left != right,
            ">": left > right,
            "<": left < right,
            ">=": left >= right,
            "<=": left <= right,
        }[op]
        if not ok:
            return False
    return True


def apply_update(update: str, item: dict, names: dict, values: dict) -> None:
    update = update.strip()
    if not update.startswith("SET "):
        raise ExpressionError(f"only SET updates are supported (given '{update}')")
    for assignment in _split_top(update[4:]):
        left, right = assignment.split("=", 1)
        item[_name(left, names)] = _value(right, item, names, values)


class FakeAws:
    """Start with ``with FakeAws() as aws:``; ``aws.endpoint`` is the URL to use."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self.tables: dict[str, dict[tuple, dict]] = {}
        self.objects: dict[tuple[str, str], bytes] = {}
        self.task_arn: str | None = None
        self.container_metadata: dict | None = None
        self.credentials: dict | None = None
        # Fail the next N requests matching a predicate with a 500 (retry tests).
        self.fail_next: list = []
        # Apply the next matching request, then answer 500 (a lost response).
        self.fail_after_apply: list = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _send(self, status: int, body: bytes, content_type: str = "application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self):
                body = self._body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                recorded = Recorded(self.command, self.path, headers, body)
                with fake._lock:
                    fake.requests.append(recorded)
                    for index, predicate in enumerate(fake.fail_next):
                        if predicate(recorded):
                            del fake.fail_next[index]
                            self._send(500, b'{"__type":"InternalServerError","message":"injected"}')
                            return
                    status, payload, content_type = fake.dispatch(recorded)
                    for index, predicate in enumerate(fake.fail_after_apply):
                        if predicate(recorded):
                            # The request took effect, but its answer is "lost".
                            del fake.fail_after_apply[index]
                            status, payload = 500, b'{"__type":"InternalServerError","message":"injected after apply"}'
                            content_type = "application/json"
                            break
                self._send(status, payload, content_type)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    # lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> "FakeAws":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # helpers for tests -------------------------------------------------------------------------

    def put_item(self, table: str, item: dict) -> None:
        from asynctask_aws import to_attribute_value

        av = {k: to_attribute_value(v) for k, v in item.items()}
        self.tables.setdefault(table, {})[(item["functionName"], item["taskId"])] = av

    def item(self, table: str, function_name: str, task_id: str) -> dict | None:
        from asynctask_aws import item_from_attributes

        stored = self.tables.get(table, {}).get((function_name, task_id))
        return item_from_attributes(stored) if stored is not None else None

    def dynamodb_requests(self, operation: str | None = None) -> list[Recorded]:
        return [
            r for r in self.requests
            if r.target and (operation is None or r.target == f"DynamoDB_20120810.{operation}")
        ]

    def s3_requests(self, method: str | None = None) -> list[Recorded]:
        return [
            r for r in self.requests
            if not r.target and r.path.split("?")[0] not in ("/metadata", "/metadata/task", "/credentials")
            and (method is None or r.method == method)
        ]

    # dispatch --------------------------------------------------------------------------------------

    def dispatch(self, request: Recorded):
        path = urllib.parse.urlsplit(request.path).path
        if path == "/metadata":
            if self.container_metadata is None:
                return 404, b"{}", "application/json"
            return 200, json.dumps(self.container_metadata).encode(), "application/json"
        if path == "/metadata/task":
            if not self.task_arn:
                return 404, b"{}", "application/json"
            return 200, json.dumps({"TaskARN": self.task_arn, "Family": "x"}).encode(), "application/json"
        if path == "/credentials":
            return 200, json.dumps(self.credentials or {}).encode(), "application/json"
        if request.target:
            return self._dynamodb(request)
        return self._s3(request, path)

    def _ddb_error(self, code: str, message: str):
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
        return 400, body.encode(), "application/x-amz-json-1.0"

    def _dynamodb(self, request: Recorded):
        operation = request.target.split(".", 1)[1]
        params = request.json
        table = self.tables.setdefault(params["TableName"], {})
        key = params["Key"]
        key_tuple = (key["functionName"]["S"], key["taskId"]["S"])
        if operation == "GetItem":
            item = table.get(key_tuple)
            return 200, json.dumps({"Item": item} if item else {}).encode(), "application/x-amz-json-1.0"
        if operation == "UpdateItem":
            names = params.get("ExpressionAttributeNames", {})
            values = params.get("ExpressionAttributeValues", {})
            item = copy.deepcopy(table.get(key_tuple, dict(key)))
            condition = params.get("ConditionExpression")
            if condition and (key_tuple not in table or not evaluate_condition(condition, item, names, values)):
                return self._ddb_error("ConditionalCheckFailedException", "The conditional request failed")
            try:
                apply_update(params["UpdateExpression"], item, names, values)
            except ExpressionError as error:
                return self._ddb_error("ValidationException", str(error))
            table[key_tuple] = item
            return 200, b"{}", "application/x-amz-json-1.0"
        return self._ddb_error("UnknownOperationException", operation)

    def _s3(self, request: Recorded, path: str):
        parts = path.lstrip("/").split("/", 1)
        if len(parts) != 2 or not parts[1]:
            return 400, b"<Error><Code>InvalidRequest</Code><Message>bucket and key</Message></Error>", "application/xml"
        bucket, key = parts[0], urllib.parse.unquote(parts[1])
        if request.method == "PUT":
            declared = request.headers.get("x-amz-content-sha256")
            if declared and declared != hashlib.sha256(request.body).hexdigest():
                return 400, b"<Error><Code>XAmzContentSHA256Mismatch</Code><Message>hash</Message></Error>", "application/xml"
            self.objects[(bucket, key)] = request.body
            return 200, b"", "application/xml"
        if request.method == "GET":
            if (bucket, key) not in self.objects:
                return 404, (
                    f"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
                    f"<Key>{key}</Key></Error>"
                ).encode(), "application/xml"
            return 200, self.objects[(bucket, key)], "application/octet-stream"
        return 405, b"<Error><Code>MethodNotAllowed</Code><Message>no</Message></Error>", "application/xml"


class LocalAws:
    """The local runtime's real S3 and DynamoDB: ``local/fauxqs-server.mjs`` (fauxqs, the same
    server script the runtime starts; 11 MiB per request, multipart) and dynalite, each in a node
    process on 127.0.0.1. ``endpoint_s3`` / ``endpoint_dynamodb`` are their URLs; ``create_table``
    and ``create_bucket`` make what a test needs. Start with ``with LocalAws() as local:``.
    """

    def __init__(self, root: str):
        self.root = root
        self.processes: list = []

    @staticmethod
    def available(root: str) -> bool:
        import os
        import shutil

        return bool(shutil.which("node")) and all(
            os.path.isdir(os.path.join(root, "node_modules", name)) for name in ("fauxqs", "dynalite"))

    def _start(self, args: list[str]) -> int:
        import subprocess

        process = subprocess.Popen(args, cwd=self.root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env={**__import__("os").environ,
                                                                          "FAUXQS_LOGGER": "false"})
        self.processes.append(process)
        line = process.stdout.readline()
        try:
            return int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            raise RuntimeError(f"{args[1]} did not start: {line!r} {process.stderr.read()[:2000] if process.poll() is not None else ''}") from None

    def __enter__(self) -> "LocalAws":
        import os

        try:
            s3_port = self._start(["node", os.path.join(self.root, "local", "fauxqs-server.mjs")])
            dynamo_port = self._start(["node", "-e", (
                "const s=require('dynalite')({createTableMs:0,deleteTableMs:0,updateTableMs:0});"
                "s.listen(0,'127.0.0.1',()=>console.log(JSON.stringify({port:s.address().port})));"
                "process.stdin.on('end',()=>process.exit(0));process.stdin.resume();")])
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.endpoint_s3 = f"http://127.0.0.1:{s3_port}"
        self.endpoint_dynamodb = f"http://127.0.0.1:{dynamo_port}"
        return self

    def __exit__(self, *exc):
        for process in self.processes:
            # Closing stdin ends both servers; kill only what we started if it lingers.
            try:
                process.stdin.close()
                process.wait(timeout=5)
            except Exception:  # noqa: BLE001
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                stream.close()

    def env(self, **extra) -> dict:
        return {"AWS_ENDPOINT_URL_S3": self.endpoint_s3, "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint_dynamodb,
                **extra}

    def create_bucket(self, bucket: str) -> None:
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint_s3}/{bucket}", method="PUT", data=b"")
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10).close()

    def create_table(self, client, table: str) -> None:
        """The tasks table's keys (functionName, taskId), through the helper's generic call."""
        client.dynamodb("CreateTable", {
            "TableName": table,
            "KeySchema": [{"AttributeName": "functionName", "KeyType": "HASH"},
                          {"AttributeName": "taskId", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "functionName", "AttributeType": "S"},
                                     {"AttributeName": "taskId", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        })

    def put_item(self, client, table: str, item: dict) -> None:
        from asynctask_aws import to_attribute_value

        client.dynamodb("PutItem", {"TableName": table, "Item": {k: to_attribute_value(v) for k, v in item.items()}})

    def upload_exists(self, client, bucket: str, key: str, upload_id: str) -> bool:
        """fauxqs has no ListMultipartUploads: an upload exists while UploadPart to it is accepted."""
        import tempfile

        from asynctask_aws import AwsError

        with tempfile.NamedTemporaryFile() as probe:
            probe.write(b"x")
            probe.flush()
            try:
                client.upload_part(bucket, key, upload_id, 1, probe.name, 0, 1)
                return True
            except AwsError as error:
                if error.code == "NoSuchUpload":
                    return False
                raise
