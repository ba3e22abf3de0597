"""runtime/python/asynctask_runtime.py against published SigV4 vectors and a fake AWS endpoint."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import unittest

import support
from fakeaws import FakeAws, LocalAws

import asynctask_aws as aws
import asynctask_runtime as rt


def suite_time() -> dt.datetime:
    return dt.datetime(2015, 8, 30, 12, 36, 0, tzinfo=dt.timezone.utc)


SUITE_CREDENTIALS = rt.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


class ModuleSurfaceTest(unittest.TestCase):
    def test_the_aws_client_names_its_surface_and_the_runtime_re_exports_what_workers_use(self):
        self.assertEqual([name for name in aws.__all__ if not hasattr(aws, name)], [])
        for name in ("AwsClient", "AwsError", "ConditionalCheckFailed", "Credentials", "CredentialProvider",
                     "EMPTY_SHA256", "sign_request", "to_attribute_value", "from_attribute_value"):
            with self.subTest(name=name):
                self.assertIs(getattr(rt, name), getattr(aws, name))
        self.assertEqual([name for name in rt.__all__ if not hasattr(rt, name)], [])


class SigV4Test(unittest.TestCase):
    """Vectors of the AWS Signature Version 4 test suite (aws-sig-v4-test-suite) and the S3 docs."""

    def sign(self, method: str, url: str, headers=None) -> str:
        signed = rt.sign_request(method, url, headers or {}, rt.EMPTY_SHA256, SUITE_CREDENTIALS,
                                 "us-east-1", "service", suite_time())
        return signed["Authorization"]

    def test_get_vanilla(self):
        self.assertEqual(
            self.sign("GET", "https://example.amazonaws.com/"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        )

    def test_post_vanilla(self):
        self.assertTrue(self.sign("POST", "https://example.amazonaws.com/").endswith(
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"))

    def test_get_vanilla_query_order_key_case(self):
        self.assertTrue(self.sign("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1").endswith(
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"))

    def test_s3_get_object_documentation_example(self):
        # "Example: GET Object" of the S3 SigV4 documentation (Range: bytes=0-9).
        signed = rt.sign_request(
            "GET",
            "https://examplebucket.s3.amazonaws.com/test.txt",
            {"Range": "bytes=0-9", "x-amz-content-sha256": rt.EMPTY_SHA256},
            rt.EMPTY_SHA256,
            rt.Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            "us-east-1",
            "s3",
            dt.datetime(2013, 5, 24, 0, 0, 0, tzinfo=dt.timezone.utc),
        )
        self.assertEqual(
            signed["Authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        )

    def test_session_token_is_sent_and_signed(self):
        signed = rt.sign_request("GET", "https://example.amazonaws.com/", {}, rt.EMPTY_SHA256,
                                 rt.Credentials("ASIAX", "secret", "tok"), "us-east-1", "service", suite_time())
        self.assertEqual(signed["X-Amz-Security-Token"], "tok")
        self.assertIn("SignedHeaders=host;x-amz-date;x-amz-security-token,", signed["Authorization"])

    def test_port_is_part_of_the_host_header(self):
        signed = rt.sign_request("GET", "http://127.0.0.1:4566/b/k", {}, rt.EMPTY_SHA256,
                                 SUITE_CREDENTIALS, "us-east-1", "s3", suite_time())
        self.assertEqual(signed["Host"], "127.0.0.1:4566")


class AttributeValueTest(unittest.TestCase):
    def test_round_trip(self):
        value = {"s": "x", "n": 3, "f": 2.5, "b": True, "none": None, "l": [1, "a"], "m": {"k": [{"z": 0}]}}
        marshalled = rt.to_attribute_value(value)
        self.assertEqual(marshalled["M"]["n"], {"N": "3"})
        self.assertEqual(marshalled["M"]["f"], {"N": "2.5"})
        self.assertEqual(rt.from_attribute_value(marshalled), value)

    def test_rejects_non_finite_numbers(self):
        with self.assertRaises(ValueError):
            rt.to_attribute_value(float("nan"))


class S3UrlTest(unittest.TestCase):
    def client(self, **env):
        base = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
        base.update(env)
        return rt.AwsClient(base)

    def test_virtual_hosted_on_the_regional_endpoint(self):
        self.assertEqual(self.client(AWS_REGION="eu-west-1").s3_url("my-bucket", "a/b c.mp4"),
                         "https://my-bucket.s3.eu-west-1.amazonaws.com/a/b%20c.mp4")

    def test_path_style_for_buckets_with_dots(self):
        self.assertEqual(self.client(AWS_DEFAULT_REGION="us-west-2").s3_url("my.bucket", "k"),
                         "https://s3.us-west-2.amazonaws.com/my.bucket/k")

    def test_path_style_on_an_endpoint_override(self):
        self.assertEqual(self.client(AWS_ENDPOINT_URL="http://127.0.0.1:4566/").s3_url("b", "x/y.json"),
                         "http://127.0.0.1:4566/b/x/y.json")

    def test_china_regions(self):
        self.assertEqual(self.client(AWS_REGION="cn-north-1").s3_url("bkt", "k"),
                         "https://bkt.s3.cn-north-1.amazonaws.com.cn/k")


class RuntimeCase(unittest.TestCase):
    payload = {"bucket": "data", "object": "in.mp4"}

    def setUp(self):
        self.aws = FakeAws().__enter__()
        self.addCleanup(self.aws.__exit__, None, None, None)
        self.aws.put_item(support.TABLE, support.task_item(self.payload))
        self.out = io.StringIO()
        self.clock = support.FakeClock()

    def runtime(self, **extra) -> rt.Runtime:
        env = support.attempt_env(self.aws.endpoint, **extra)
        client = rt.AwsClient(env, retry_base_delay=0.01)
        return rt.Runtime(env, client=client, clock=self.clock, out=self.out)

    def item(self) -> dict:
        return self.aws.item(support.TABLE, support.FUNCTION, support.TASK_ID)

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]


class StartTest(RuntimeCase):
    def test_reads_the_task_and_marks_it_running(self):
        seen = {}

        def handler(payload, task):
            seen["payload"] = payload
            return {"ok": True}

        self.assertEqual(self.runtime().execute(handler), rt.EXIT_SUCCEEDED)
        self.assertEqual(seen["payload"], self.payload)

        get = self.aws.dynamodb_requests("GetItem")[0]
        self.assertEqual(get.json, {
            "TableName": support.TABLE,
            "Key": {"functionName": {"S": support.FUNCTION}, "taskId": {"S": support.TASK_ID}},
            "ConsistentRead": True,
        })
        update = self.aws.dynamodb_requests("UpdateItem")[0]
        body = update.json
        self.assertEqual(update.headers["content-type"], "application/x-amz-json-1.0")
        self.assertEqual(update.headers["x-amz-target"], "DynamoDB_20120810.UpdateItem")
        self.assertRegex(
            update.headers["authorization"],
            r"^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/dynamodb/aws4_request, "
            r"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$",
        )
        self.assertEqual(
            body["ConditionExpression"],
            "#executionArn = :exec AND #status IN (:from0, :from1, :from2) AND #deadline > :now",
        )
        self.assertEqual(
            body["UpdateExpression"],
            "SET #status = :running, #statusKey = :statusKey, #runnerId = :runner, "
            "#events = list_append(if_not_exists(#events, :empty), :event)",
        )
        self.assertEqual(body["ExpressionAttributeNames"], {
            "#status": "status", "#statusKey": "statusKey", "#runnerId": "runnerId", "#events": "events",
            "#executionArn": "executionArn", "#deadline": "deadline",
        })
        values = body["ExpressionAttributeValues"]
        self.assertEqual(values[":exec"], {"S": support.EXECUTION_ARN})
        self.assertEqual([values[k]["S"] for k in (":from0", ":from1", ":from2")], ["Enqueued", "Dequeued", "Retrying"])
        self.assertEqual(values[":statusKey"], {"S": "transcode#Running"})
        self.assertRegex(values[":now"]["S"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(values[":runner"], {"S": f"local-{os.getpid()}"})

        item = self.item()
        self.assertEqual(item["status"], "Running")
        self.assertEqual(item["statusKey"], "transcode#Running")
        self.assertEqual(item["runnerId"], f"local-{os.getpid()}")
        self.assertNotIn("logStream", item)
        self.assertEqual([e["status"] for e in item["events"]], ["Enqueued", "Running"])
        self.assertEqual(item["events"][1]["detail"], f"attempt 1 on local-{os.getpid()}")

    def test_ecs_task_arn_and_log_stream(self):
        arn = "arn:aws:ecs:us-east-1:123456789012:task/asynctask-cluster/0123456789abcdef0123456789abcdef"
        self.aws.task_arn = arn
        runtime = self.runtime(
            ECS_CONTAINER_METADATA_URI_V4=f"{self.aws.endpoint}/metadata",
            TASK_LOG_STREAM_PREFIX="transcode",
            TASK_CONTAINER_NAME="worker",
        )
        self.assertEqual(runtime.execute(lambda payload, task: None), 0)
        item = self.item()
        self.assertEqual(item["runnerId"], arn)
        self.assertEqual(item["logStream"], "transcode/worker/0123456789abcdef0123456789abcdef")
        update = self.aws.dynamodb_requests("UpdateItem")[0].json
        self.assertIn("#logStream = :logStream", update["UpdateExpression"])
        self.assertEqual(update["ExpressionAttributeNames"]["#logStream"], "logStream")

    def test_log_stream_from_the_container_metadata(self):
        self.aws.task_arn = "arn:aws:ecs:us-east-1:123456789012:task/c/fedcba"
        self.aws.container_metadata = {"Name": "worker", "LogDriver": "awslogs",
                                       "LogOptions": {"awslogs-group": "/asynctask/transcode", "awslogs-stream": "custom/worker/fedcba"}}
        runtime = self.runtime(ECS_CONTAINER_METADATA_URI_V4=f"{self.aws.endpoint}/metadata",
                               TASK_LOG_STREAM_PREFIX="transcode", TASK_CONTAINER_NAME="worker")
        self.assertEqual(runtime.execute(lambda payload, task: None), 0)
        self.assertEqual(self.item()["logStream"], "custom/worker/fedcba")

    def test_local_runtime_task_arn_and_log_stream(self):
        arn = "arn:aws:ecs:us-east-1:000000000000:task/local/abc"
        runtime = self.runtime(ASYNCTASK_LOCAL_TASK_ARN=arn, TASK_LOG_STREAM="transcode/worker/abc")
        self.assertEqual(runtime.execute(lambda payload, task: None), 0)
        self.assertEqual(self.item()["runnerId"], arn)
        self.assertEqual(self.item()["logStream"], "transcode/worker/abc")

    def test_every_log_line_is_json_with_the_task_id(self):
        self.runtime().execute(lambda payload, task: task.log("hello", extra=1) or {"x": 1})
        lines = self.logs()
        self.assertGreaterEqual(len(lines), 3)
        for line in lines:
            self.assertEqual(line["taskId"], support.TASK_ID)
            self.assertEqual(line["functionName"], support.FUNCTION)
        self.assertTrue(any(line["message"] == "hello" and line["extra"] == 1 for line in lines))

    def test_session_token_is_sent(self):
        self.runtime(AWS_SESSION_TOKEN="session-token").execute(lambda p, t: None)
        request = self.aws.dynamodb_requests("GetItem")[0]
        self.assertEqual(request.headers["x-amz-security-token"], "session-token")
        self.assertIn("x-amz-security-token", request.headers["authorization"])

    def test_container_credentials_endpoint(self):
        self.aws.credentials = {
            "AccessKeyId": "ASIACONTAINER",
            "SecretAccessKey": "secret",
            "Token": "container-token",
            "Expiration": "2999-01-01T00:00:00Z",
        }
        env = support.attempt_env(
            self.aws.endpoint,
            AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{self.aws.endpoint}/credentials",
            AWS_CONTAINER_AUTHORIZATION_TOKEN="auth-token",
        )
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        runtime = rt.Runtime(env, out=self.out)
        self.assertEqual(runtime.execute(lambda p, t: None), 0)
        credential_requests = [r for r in self.aws.requests if r.path == "/credentials"]
        self.assertEqual(len(credential_requests), 1, "credentials are cached")
        self.assertEqual(credential_requests[0].headers["authorization"], "auth-token")
        update = self.aws.dynamodb_requests("UpdateItem")[0]
        self.assertIn("Credential=ASIACONTAINER/", update.headers["authorization"])
        self.assertEqual(update.headers["x-amz-security-token"], "container-token")

    def test_retries_a_server_error(self):
        self.aws.fail_next.append(lambda r: r.target == "DynamoDB_20120810.UpdateItem")
        self.assertEqual(self.runtime().execute(lambda p, t: None), 0)
        self.assertEqual(len(self.aws.dynamodb_requests("UpdateItem")), 2)
        self.assertEqual(self.item()["status"], "Running")

    def test_a_lost_answer_to_the_running_write_is_not_a_conflict(self):
        # The first UpdateItem takes effect but its answer is lost; the retry then fails its
        # condition (the task is Running already) — and the runtime sees it is its own write.
        self.aws.fail_after_apply.append(lambda r: r.target == "DynamoDB_20120810.UpdateItem")
        ran = []
        self.assertEqual(self.runtime().execute(lambda p, t: ran.append(1)), 0)
        self.assertEqual(ran, [1])
        self.assertEqual(len(self.aws.dynamodb_requests("UpdateItem")), 2)
        self.assertEqual(len(self.aws.dynamodb_requests("GetItem")), 2)


class NotRunnableTest(RuntimeCase):
    def assert_not_runnable(self, reason_fragment: str):
        ran = []
        code = self.runtime().execute(lambda p, t: ran.append(1))
        self.assertEqual(code, rt.EXIT_NOT_RUNNABLE)
        self.assertEqual(ran, [], "the work must not run")
        self.assertEqual(self.aws.s3_requests("PUT"), [], "no result is written")
        last = self.logs()[-1]
        self.assertEqual(last["level"], "error")
        self.assertIn("not running the work", last["message"])
        self.assertIn(reason_fragment, last["message"])

    def test_another_execution_owns_the_task(self):
        self.aws.put_item(support.TABLE, support.task_item(self.payload, execution_arn="arn:other"))
        self.assert_not_runnable("belongs to execution 'arn:other'")
        self.assertEqual(self.item()["status"], "Enqueued")

    def test_task_is_stopping(self):
        self.aws.put_item(support.TABLE, support.task_item(self.payload, status="Stopping"))
        self.assert_not_runnable("its status is Stopping")
        self.assertEqual(self.item()["status"], "Stopping")

    def test_deadline_passed(self):
        self.aws.put_item(support.TABLE, support.task_item(self.payload, deadline="2000-01-01T00:00:00.000Z"))
        self.assert_not_runnable("deadline 2000-01-01T00:00:00.000Z has passed")

    def test_task_missing(self):
        self.aws.tables[support.TABLE].clear()
        self.assert_not_runnable("is not in table 'Tasks'")

    def test_running_from_retrying_is_allowed(self):
        self.aws.put_item(support.TABLE, support.task_item(self.payload, status="Retrying"))
        self.assertEqual(self.runtime().execute(lambda p, t: 1), 0)
        self.assertEqual(self.item()["status"], "Running")


class ProgressTest(RuntimeCase):
    def progress_writes(self) -> list[dict]:
        return [
            r.json for r in self.aws.dynamodb_requests("UpdateItem")
            if r.json["UpdateExpression"] == "SET #progress = :progress"
        ]

    def test_throttled_to_one_write_per_five_seconds_and_the_last_always_written(self):
        clock = self.clock

        def handler(payload, task):
            task.progress(0, "start")          # written (first)
            clock.advance(1)
            task.progress(10, "ten")           # throttled
            clock.advance(2)
            task.progress(20, "twenty")        # throttled
            clock.advance(2.5)                 # 5.5 s after the first write
            task.progress(30.25, "thirty")     # written
            clock.advance(1)
            task.progress(100, "done")         # throttled, flushed before the result
            return {"done": True}

        self.assertEqual(self.runtime().execute(handler), 0)
        writes = self.progress_writes()
        self.assertEqual([w["ExpressionAttributeValues"][":progress"]["M"]["percent"]["N"] for w in writes],
                         ["0", "30.25", "100"])
        self.assertEqual(writes[0]["ConditionExpression"], "#executionArn = :exec AND #status = :running")
        self.assertEqual(writes[0]["ExpressionAttributeValues"][":running"], {"S": "Running"})
        self.assertEqual(writes[0]["ExpressionAttributeNames"],
                         {"#progress": "progress", "#executionArn": "executionArn", "#status": "status"})
        progress = self.item()["progress"]
        self.assertEqual(progress["percent"], 100)
        self.assertEqual(progress["message"], "done")
        self.assertRegex(progress["updatedAt"], r"Z$")
        # The final progress write happens before the result is put.
        order = [("ddb" if r.target else r.method) for r in self.aws.requests]
        self.assertEqual(order[-2:], ["ddb", "PUT"])

    def test_percent_is_clamped_and_validated(self):
        def handler(payload, task):
            task.progress(150)
            with self.assertRaises(ValueError):
                task.progress("half")
            return None

        self.assertEqual(self.runtime().execute(handler), 0)
        self.assertEqual(self.item()["progress"]["percent"], 100)

    def test_a_stopped_task_stops_progress_writes_without_failing_the_work(self):
        aws = self.aws

        def handler(payload, task):
            stored = aws.tables[support.TABLE][(support.FUNCTION, support.TASK_ID)]
            stored["status"] = {"S": "Stopping"}
            task.progress(10, "x")
            self.clock.advance(10)
            task.progress(20, "y")
            return "ok"

        self.assertEqual(self.runtime().execute(handler), 0)
        self.assertEqual(len(self.progress_writes()), 1)
        self.assertTrue(any("no longer Running" in line["message"] for line in self.logs()))


class EndTest(RuntimeCase):
    def test_success_puts_the_json_result(self):
        result = {"outputs": [{"key": "a/b.mov"}], "n": 1}
        self.assertEqual(self.runtime().execute(lambda p, t: result), 0)
        put = self.aws.s3_requests("PUT")[0]
        self.assertEqual(put.path, f"/{support.RESULT_BUCKET}/{support.RESULT_KEY}")
        self.assertEqual(json.loads(put.body), result)
        self.assertEqual(put.headers["x-amz-content-sha256"], hashlib.sha256(put.body).hexdigest())
        self.assertEqual(put.headers["content-type"], "application/json")
        self.assertIn("/us-east-1/s3/aws4_request", put.headers["authorization"])
        self.assertIn("x-amz-content-sha256", put.headers["authorization"])
        self.assertEqual(self.logs()[-1]["message"], "succeeded")

    def test_failure_records_the_error_and_exits_1(self):
        def handler(payload, task):
            raise ValueError("dst_format 'mkv' is not supported")

        self.assertEqual(self.runtime().execute(handler), rt.EXIT_FAILED)
        update = self.aws.dynamodb_requests("UpdateItem")[-1].json
        self.assertEqual(update["UpdateExpression"], "SET #message = :message")
        self.assertEqual(update["ConditionExpression"], "#executionArn = :exec")
        self.assertEqual(update["ExpressionAttributeNames"],
                         {"#message": "taskErrorMessage", "#executionArn": "executionArn"})
        self.assertEqual(self.item()["taskErrorMessage"], "ValueError: dst_format 'mkv' is not supported")
        self.assertEqual(self.aws.s3_requests("PUT"), [])
        last = self.logs()[-1]
        self.assertEqual(last["level"], "error")
        self.assertIn("Traceback (most recent call last)", last["traceback"])
        self.assertIn("ValueError: dst_format", last["traceback"])

    def test_a_permanent_error_records_the_error_and_exits_2(self):
        class PayloadError(rt.PermanentError, ValueError):
            pass

        def handler(payload, task):
            raise PayloadError("dst_format 'mkv' is not supported")

        self.assertEqual(rt.EXIT_INVALID_INPUT, 2)
        self.assertEqual(self.runtime().execute(handler), rt.EXIT_INVALID_INPUT)
        self.assertEqual(self.item()["taskErrorMessage"], "PayloadError: dst_format 'mkv' is not supported")
        self.assertEqual(self.aws.s3_requests("PUT"), [])

    def test_an_aws_error_stays_retryable_even_a_missing_object_unless_the_worker_says_so(self):
        def handler(payload, task):
            task.get_object("data", "nope.json")

        self.assertEqual(self.runtime().execute(handler), rt.EXIT_FAILED)
        self.assertIn("NoSuchKey", self.item()["taskErrorMessage"])
        self.assertEqual(rt.S3_NOT_FOUND_CODES, ("NoSuchKey", "NoSuchBucket"))

    def test_a_result_over_the_limit_fails_naming_it(self):
        self.assertEqual(self.runtime().execute(lambda p, t: "x" * (200 * 1024)), rt.EXIT_FAILED)
        self.assertIn("the limit is 131072 bytes", self.item()["taskErrorMessage"])

    def test_download_and_upload_helpers(self):
        self.aws.objects[("data", "in dir/in.bin")] = b"\x00\x01" * 1000
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            def handler(payload, task):
                size = task.download("data", "in dir/in.bin", os.path.join(tmp, "x", "in.bin"))
                with open(os.path.join(tmp, "out.m3u8"), "w") as handle:
                    handle.write("#EXTM3U\n")
                return {"size": size, "up": task.upload(os.path.join(tmp, "out.m3u8"), "data", "out/out.m3u8")}

            self.assertEqual(self.runtime().execute(handler), 0)
        self.assertEqual(self.aws.objects[("data", "out/out.m3u8")], b"#EXTM3U\n")
        put = [r for r in self.aws.s3_requests("PUT") if r.path == "/data/out/out.m3u8"][0]
        self.assertEqual(put.headers["content-type"], "application/vnd.apple.mpegurl")
        get = self.aws.s3_requests("GET")[0]
        self.assertEqual(get.path, "/data/in%20dir/in.bin")

    def test_missing_object_fails_with_the_s3_error(self):
        def handler(payload, task):
            task.download("data", "nope.mp4", "/tmp/never-written")

        self.assertEqual(self.runtime().execute(handler), 1)
        self.assertEqual(self.item()["taskErrorMessage"], "AwsError: s3 GetObject s3://data/nope.mp4 failed: HTTP 404 NoSuchKey: The specified key does not exist.")

    def test_context_manager_form(self):
        runtime = self.runtime()
        with rt.task(runtime) as t:
            t.progress(50, "half")
            t.set_result({"payload": t.payload})
        self.assertEqual(json.loads(self.aws.objects[(support.RESULT_BUCKET, support.RESULT_KEY)]),
                         {"payload": self.payload})
        self.aws.put_item(support.TABLE, support.task_item(self.payload))
        runtime = self.runtime()
        with self.assertRaises(SystemExit) as raised:
            with rt.task(runtime):
                raise RuntimeError("nope")
        self.assertEqual(raised.exception.code, 1)
        self.aws.put_item(support.TABLE, support.task_item(self.payload))
        with self.assertRaises(SystemExit) as raised:
            with rt.task(self.runtime()):
                raise rt.PermanentError("the object is empty")
        self.assertEqual(raised.exception.code, rt.EXIT_INVALID_INPUT)
        self.assertEqual(self.item()["taskErrorMessage"], "PermanentError: the object is empty")


class ProcessTest(RuntimeCase):
    """The real exit codes of a worker process (run() calls sys.exit)."""

    def spawn(self, body: str, **extra) -> subprocess.Popen:
        script = "import time\nfrom asynctask_runtime import run\n" + textwrap.dedent(body)
        env = support.attempt_env(self.aws.endpoint, PYTHONPATH=support.RUNTIME_DIR, **extra)
        return subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def test_exit_code_3_when_the_running_condition_fails(self):
        self.aws.put_item(support.TABLE, support.task_item(self.payload, status="Succeeded"))
        process = self.spawn("""
            def handler(payload, task):
                print("WORK RAN")
            run(handler)
        """)
        out, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 3, err)
        self.assertNotIn("WORK RAN", out)
        line = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(line["taskId"], support.TASK_ID)
        self.assertIn("its status is Succeeded", line["message"])

    def test_exit_codes_0_and_1(self):
        process = self.spawn("run(lambda payload, task: {'got': payload})")
        _, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 0, err)
        self.aws.put_item(support.TABLE, support.task_item(self.payload))
        process = self.spawn("run(lambda payload, task: 1 / 0)")
        _, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 1, err)
        self.assertEqual(self.item()["taskErrorMessage"], "ZeroDivisionError: division by zero")

    def test_exit_code_2_for_a_permanent_error(self):
        process = self.spawn("""
            from asynctask_runtime import PermanentError
            def handler(payload, task):
                raise PermanentError("bucket 'nope' does not exist")
            run(handler)
        """)
        _, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 2, err)
        self.assertEqual(self.item()["taskErrorMessage"], "PermanentError: bucket 'nope' does not exist")

    def test_sigterm_ends_the_work_with_143(self):
        process = self.spawn("""
            def handler(payload, task):
                task.log("working")
                time.sleep(30)
            run(handler)
        """)
        deadline = time.monotonic() + 20
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line or '"working"' in line:
                break
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
        self.assertEqual(process.returncode, 143)
        self.assertIn("terminated by SIGTERM", self.item()["taskErrorMessage"])


class StandaloneTest(unittest.TestCase):
    def test_runs_on_task_payload_without_a_table(self):
        out = io.StringIO()
        runtime = rt.Runtime({"TASK_ID": "t1", "TASK_PAYLOAD": '{"a": 1}'}, out=out)
        self.assertEqual(runtime.execute(lambda payload, task: {"echo": payload}), 0)
        last = json.loads(out.getvalue().splitlines()[-1])
        self.assertEqual(last["result"], {"echo": {"a": 1}})

    def test_missing_environment_is_named(self):
        out = io.StringIO()
        runtime = rt.Runtime({"TASK_TABLE": "T", "TASK_ID": "t"}, out=out)
        self.assertEqual(runtime.execute(lambda p, t: None), 1)
        self.assertIn("TASK_FUNCTION", out.getvalue())
        self.assertIn("TASK_EXECUTION_ARN", out.getvalue())


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(LocalAws.available(support.ROOT), "needs node and `npm install` (fauxqs, dynalite)")
class LocalBackendsTest(unittest.TestCase):
    """Files over one request's size against the local runtime's real S3 (fauxqs: 11 MiB per
    request) and DynamoDB (dynalite): up and down byte-identical, and a failed part aborts."""

    SIZE = 23 * 1024 * 1024 + 12345  # three 8 MiB parts, the last one short

    @classmethod
    def setUpClass(cls):
        import tempfile

        cls.local = LocalAws(support.ROOT).__enter__()
        cls.tmp = tempfile.mkdtemp(prefix="asynctask-local-")
        cls.big = os.path.join(cls.tmp, "big.bin")
        with open(cls.big, "wb") as handle:
            handle.write(os.urandom(cls.SIZE))
        with open(cls.big, "rb") as handle:
            cls.big_sha = hashlib.sha256(handle.read()).hexdigest()

    @classmethod
    def tearDownClass(cls):
        import shutil

        cls.local.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.bucket = f"b{time.time_ns()}"
        self.local.create_bucket(self.bucket)
        self.client = aws.AwsClient(support.attempt_env("", AWS_ENDPOINT_URL=None, **self.local.env()),
                                    retry_base_delay=0.01)

    def sha(self, path: str) -> str:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()

    def test_a_file_over_the_request_limit_goes_up_in_parts_and_comes_down_byte_identical(self):
        self.assertEqual(self.client.upload(self.big, self.bucket, "in dir/big.bin"), self.SIZE)
        out = os.path.join(self.tmp, "down", "big.bin")
        self.assertEqual(self.client.download(self.bucket, "in dir/big.bin", out), self.SIZE)
        self.assertEqual(self.sha(out), self.big_sha)
        self.assertEqual(os.listdir(os.path.dirname(out)), ["big.bin"])  # no .part left

    def test_fails_if_a_part_fails_and_aborts_the_upload(self):
        uploads: list[str] = []
        client = self.client

        class FailingPart(aws.AwsClient):
            def create_multipart_upload(self, bucket, key, content_type):
                uploads.append(super().create_multipart_upload(bucket, key, content_type))
                return uploads[-1]

            def upload_part(self, bucket, key, upload_id, number, path, offset, length):
                if number == 2:
                    raise aws.AwsError("s3", "UploadPart", 0, "ConnectionResetError", "injected reset",
                                       f"s3://{bucket}/{key} part {number}")
                return super().upload_part(bucket, key, upload_id, number, path, offset, length)

        failing = FailingPart(client.env, retry_base_delay=0.01)
        with self.assertRaises(aws.MultipartUploadError) as raised:
            failing.upload(self.big, self.bucket, "out/big.bin", concurrency=1)
        message = str(raised.exception)
        self.assertRegex(message, r"multipart upload of .*big\.bin \(24129593 bytes, 3 parts of 8388608 bytes\) "
                                  rf"to s3://{self.bucket}/out/big\.bin failed at part 2 of 3: .*injected reset; "
                                  r"the upload was aborted, no part of it remains")
        self.assertTrue(raised.exception.aborted)
        self.assertEqual(len(uploads), 1)
        self.assertFalse(self.local.upload_exists(client, self.bucket, "out/big.bin", uploads[0]))
        with self.assertRaises(aws.AwsError) as missing:
            client.get_object(self.bucket, "out/big.bin")
        self.assertEqual(missing.exception.code, "NoSuchKey")

    def test_fails_if_the_object_or_bucket_is_missing_and_leaves_no_file(self):
        out = os.path.join(self.tmp, "missing", "x.bin")
        for bucket, key, code in ((self.bucket, "nope.bin", "NoSuchKey"), ("no-such-bucket", "x.bin", "NoSuchBucket")):
            with self.subTest(code=code):
                with self.assertRaises(aws.AwsError) as raised:
                    self.client.download(bucket, key, out)
                self.assertEqual(raised.exception.code, code)
                self.assertIn(f"s3://{bucket}/{key}", str(raised.exception))
                self.assertEqual(os.listdir(os.path.dirname(out)), [])

    def test_a_task_uploads_a_large_output_and_its_failure_is_recorded_in_dynalite(self):
        self.local.create_table(self.client, support.TABLE)
        self.local.put_item(self.client, support.TABLE, support.task_item({"n": 1}))
        env = support.attempt_env("", AWS_ENDPOINT_URL=None, TASK_RESULT_BUCKET=self.bucket, **self.local.env())
        big = self.big

        def handler(payload, task):
            return task.upload(big, task._runtime.result_bucket, "outputs/big.bin")

        out = io.StringIO()
        self.assertEqual(rt.Runtime(env, out=out).execute(handler), rt.EXIT_SUCCEEDED)
        result = json.loads(self.client.get_object(self.bucket, support.RESULT_KEY))
        self.assertEqual(result, {"bucket": self.bucket, "key": "outputs/big.bin", "bytes": self.SIZE})
        item = self.client.get_item(support.TABLE, {"functionName": support.FUNCTION, "taskId": support.TASK_ID})
        self.assertEqual(item["status"], "Running")

        # The same task, its upload failing half-way: the message names the upload, no result.
        self.local.put_item(self.client, support.TABLE, support.task_item({"n": 2}))

        class FailingPart(aws.AwsClient):
            def upload_part(self, bucket, key, upload_id, number, path, offset, length):
                if number == 3:
                    raise aws.AwsError("s3", "UploadPart", 503, "SlowDown", "injected", f"s3://{bucket}/{key}")
                return super().upload_part(bucket, key, upload_id, number, path, offset, length)

        env[rt.ENV_RESULT_KEY] = "results/failed.json"
        runtime = rt.Runtime(env, client=FailingPart(env, retry_base_delay=0.01), out=io.StringIO())
        self.assertEqual(runtime.execute(handler), rt.EXIT_FAILED)
        item = self.client.get_item(support.TABLE, {"functionName": support.FUNCTION, "taskId": support.TASK_ID})
        self.assertRegex(item["taskErrorMessage"], r"^MultipartUploadError: multipart upload of .* failed at part 3 "
                                                   r"of 3: .*SlowDown: injected; the upload was aborted")
        self.assertNotIn("Traceback", item["taskErrorMessage"])
        with self.assertRaises(aws.AwsError):
            self.client.get_object(self.bucket, "results/failed.json")


class PartSizeTest(unittest.TestCase):
    def test_at_least_8_mib_and_never_more_than_10000_parts(self):
        self.assertEqual(aws.part_size_for(1), 8 * 1024 * 1024)
        self.assertEqual(aws.part_size_for(80 * 1024 * 1024 * 1024), 9 * 1024 * 1024)  # 80 GiB
        five_tib = 5 * 1024 ** 4
        part = aws.part_size_for(five_tib)
        self.assertLessEqual(-(-five_tib // part), aws.MAX_PARTS)

    def test_fails_if_the_file_is_over_5_tib(self):
        with self.assertRaisesRegex(ValueError, r"the file is 5497558138881 bytes; S3 objects are at most "
                                                r"5497558138880 bytes \(5 TiB\)"):
            aws.part_size_for(5 * 1024 ** 4 + 1)
