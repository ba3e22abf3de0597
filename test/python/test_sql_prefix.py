"""containers/python/worker.py over a prefix (ListObjectsV2, paged) against a fake S3: one report
over plain and gzip logs with the known answers of generated logs, and every bad input failing
with a message that names it and writes no report."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tempfile
import unittest
import urllib.parse
from xml.sax.saxutils import escape

import support
from fakeaws import FakeAws
from test_sql_planted import generate

import asynctask_runtime as rt

worker = support.load_worker("python")
FUNCTION = "sql-log-analysis"
FIXTURE = os.path.join(support.FIXTURES, "slow-query.log")


class ListingFakeAws(FakeAws):
    """FakeAws plus S3 ListObjectsV2 (pages of max-keys, continuation tokens) and missing buckets."""

    def __init__(self, buckets=("logs",)):
        super().__init__()
        self.buckets = set(buckets) | {support.RESULT_BUCKET}

    def _s3(self, request, path):
        parts = path.lstrip("/").split("/", 1)
        bucket = parts[0]
        if bucket not in self.buckets:
            return 404, (f"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist"
                         f"</Message><BucketName>{bucket}</BucketName></Error>").encode(), "application/xml"
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(request.path).query, keep_blank_values=True))
        if request.method == "GET" and query.get("list-type") == "2" and (len(parts) == 1 or not parts[1]):
            prefix = query.get("prefix", "")
            keys = sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))
            start = int(query.get("continuation-token") or 0)
            size = int(query.get("max-keys", 1000))
            page = keys[start:start + size]
            more = start + size < len(keys)
            body = "".join(f"<Contents><Key>{escape(k)}</Key><Size>{len(self.objects[(bucket, k)])}</Size></Contents>"
                           for k in page)
            token = f"<NextContinuationToken>{start + size}</NextContinuationToken>" if more else ""
            xml = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                   f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>"
                   f"<IsTruncated>{'true' if more else 'false'}</IsTruncated>{token}{body}</ListBucketResult>")
            return 200, xml.encode(), "application/xml"
        return super()._s3(request, path)


class ListObjectsTest(unittest.TestCase):
    def test_pages_through_every_key_under_the_prefix(self):
        with ListingFakeAws() as aws:
            for n in range(7):
                aws.objects[("logs", f"a/{n:02d} x+y.log")] = b"x" * n
            aws.objects[("logs", "b/other.log")] = b"y"
            client = rt.AwsClient({"AWS_ENDPOINT_URL": aws.endpoint}, retry_base_delay=0.01)
            listed = client.list_objects("logs", "a/", page_size=3)
            self.assertEqual(listed, [{"key": f"a/{n:02d} x+y.log", "size": n} for n in range(7)])
            self.assertEqual(len([r for r in aws.s3_requests("GET") if "list-type=2" in r.path]), 3)


class PrefixRunTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="sql-prefix-")
        cls.names, cls.known = generate(cls.dir, logs=3, target_bytes=150_000, gz=1, seed=11)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def setUp(self):
        self.aws = ListingFakeAws().__enter__()
        self.addCleanup(self.aws.__exit__, None, None, None)

    def upload_generated(self, prefix: str) -> None:
        for name in self.names:
            with open(os.path.join(self.dir, name), "rb") as handle:
                self.aws.objects[("logs", prefix + name)] = handle.read()

    def execute(self, payload, processes: str = "2") -> tuple[int, str]:
        self.aws.put_item(support.TABLE, support.task_item(payload, function_name=FUNCTION))
        env = support.attempt_env(self.aws.endpoint, function_name=FUNCTION)
        out = io.StringIO()
        runtime = rt.Runtime(env, client=rt.AwsClient(env, retry_base_delay=0.01), out=out)
        previous = os.environ.get(worker.PROCESSES_ENV)
        os.environ[worker.PROCESSES_ENV] = processes
        try:
            return runtime.execute(worker.handler), out.getvalue()
        finally:
            if previous is None:
                os.environ.pop(worker.PROCESSES_ENV, None)
            else:
                os.environ[worker.PROCESSES_ENV] = previous

    def error(self) -> str:
        return self.aws.item(support.TABLE, FUNCTION, support.TASK_ID).get("taskErrorMessage", "")

    def assert_no_output(self) -> None:
        self.assertNotIn((support.RESULT_BUCKET, support.RESULT_KEY), self.aws.objects)
        self.assertEqual([k for b, k in self.aws.objects if k.startswith("reports/")], [])

    def test_one_report_over_every_log_under_the_prefix(self):
        self.upload_generated("mysql/2026-11-20/")
        self.aws.objects[("logs", "mysql/2026-11-20/")] = b""  # a folder marker is not a log
        self.aws.objects[("logs", "mysql/other/x.log")] = b"not under the prefix"
        code, out = self.execute({"bucket": "logs", "prefix": "mysql/2026-11-20/", "top": 50})
        self.assertEqual(code, 0, out)
        result = json.loads(self.aws.objects[(support.RESULT_BUCKET, support.RESULT_KEY)])
        self.assertEqual(result["logs"], 3)
        self.assertEqual(result["entries"], self.known["entries"])
        self.assertEqual(result["total_query_time"], self.known["total_query_time"])
        self.assertEqual(result["report"]["key"], "reports/2026-11-20.json")
        report = json.loads(self.aws.objects[("logs", "reports/2026-11-20.json")])
        self.assertEqual(report["source"]["prefix"], "mysql/2026-11-20/")
        self.assertEqual([o["key"] for o in report["source"]["objects"]], [f"mysql/2026-11-20/{n}" for n in self.names])
        by_fp = {q["fingerprint"]: q for q in report["queries"]}
        for fp, answer in self.known["queries"].items():
            with self.subTest(fingerprint=fp):
                self.assertEqual(by_fp[fp]["count"], answer["count"])
                self.assertEqual(by_fp[fp]["query_time"]["total"], answer["total"])
                self.assertEqual(by_fp[fp]["query_time"]["p95"], answer["p95"])
                self.assertEqual(by_fp[fp]["databases"], answer["databases"])
                self.assertEqual(by_fp[fp]["hosts"], answer["hosts"])

    def test_one_process_and_two_give_the_same_report(self):
        self.upload_generated("p/")
        reports = []
        for processes in ("1", "2"):
            code, out = self.execute({"bucket": "logs", "prefix": "p/", "report_key": f"out/{processes}.json"}, processes)
            self.assertEqual(code, 0, out)
            report = json.loads(self.aws.objects[("logs", f"out/{processes}.json")])
            reports.append({k: v for k, v in report.items() if k != "generated_at"})
        self.assertEqual(reports[0], reports[1])

    def test_fails_if_the_bucket_does_not_exist(self):
        code, _ = self.execute({"bucket": "nope", "prefix": "p/"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        self.assertIn("s3 ListObjectsV2 s3://nope/p/ failed: HTTP 404 NoSuchBucket", self.error())
        self.assert_no_output()

    def test_a_server_error_reading_a_log_stays_retryable(self):
        with open(FIXTURE, "rb") as handle:
            self.aws.objects[("logs", "a.log")] = handle.read()
        for _ in range(4):  # every attempt of the client's own retries
            self.aws.fail_next.append(lambda r: r.method == "GET" and r.path.startswith("/logs/a.log"))
        code, out = self.execute({"bucket": "logs", "object": "a.log"})
        self.assertEqual(code, rt.EXIT_FAILED, out)
        self.assertIn("AwsError: s3 GetObject s3://logs/a.log failed: HTTP 500", self.error())
        self.assert_no_output()

    def test_fails_if_the_prefix_holds_no_log(self):
        self.aws.objects[("logs", "p/")] = b""
        code, _ = self.execute({"bucket": "logs", "prefix": "p/"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        self.assertIn("LogError: no logs under s3://logs/p/ (ListObjectsV2 found 1 object(s), none of them a log)", self.error())
        self.assert_no_output()

    def test_fails_if_the_object_does_not_exist(self):
        code, _ = self.execute({"bucket": "logs", "object": "nope.log"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        self.assertIn("s3 GetObject s3://logs/nope.log failed: HTTP 404 NoSuchKey", self.error())
        self.assert_no_output()

    def test_fails_if_a_log_is_empty_naming_it(self):
        self.upload_generated("p/")
        self.aws.objects[("logs", "p/zz-empty.log")] = b""
        code, _ = self.execute({"bucket": "logs", "prefix": "p/"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        self.assertIn("LogError: empty log (0 bytes): s3://logs/p/zz-empty.log", self.error())
        self.assertEqual(self.aws.s3_requests("GET")[-1].path.split("?")[0], "/logs")  # nothing downloaded
        self.assert_no_output()

    def test_fails_if_a_gzip_log_is_unreadable(self):
        self.upload_generated("p/")
        with open(FIXTURE, "rb") as handle:
            self.aws.objects[("logs", "p/broken.log.gz")] = gzip.compress(handle.read())[:300]
        code, out = self.execute({"bucket": "logs", "prefix": "p/"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT, out)
        self.assertRegex(self.error(), r"^LogError: s3://logs/p/broken.log.gz is not a readable gzip file \(EOFError: ")
        self.assert_no_output()

    def test_fails_if_a_log_has_no_entries(self):
        self.aws.objects[("logs", "p/a.log")] = b"just some text\nno slow-query entries\n"
        code, _ = self.execute({"bucket": "logs", "prefix": "p/"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        self.assertIn("LogError: no slow-query entries (# Query_time: header and a statement) in s3://logs/p/a.log (37 bytes)",
                      self.error())
        self.assert_no_output()

    def test_fails_if_a_field_is_missing_or_both_are_given(self):
        code, _ = self.execute({"bucket": "logs"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        self.assertIn("object (one log) or prefix (every log under it) is required (given neither)", self.error())
        code, _ = self.execute({"object": "a.log"})
        self.assertIn("bucket must be a non-empty string (given None)", self.error())
        code, _ = self.execute({"bucket": "logs", "object": "a.log", "prefix": "p/"})
        self.assertIn("give exactly one of object and prefix (given object 'a.log' and prefix 'p/')", self.error())
        code, _ = self.execute({"bucket": "logs", "prefix": ""})
        self.assertIn("prefix must be a non-empty string (given '')", self.error())
        self.assert_no_output()


class ValidatePrefixTest(unittest.TestCase):
    def test_default_report_key_is_the_last_prefix_segment(self):
        self.assertEqual(worker.validate({"bucket": "b", "prefix": "logs/2026-11-20/"}),
                         {"bucket": "b", "prefix": "logs/2026-11-20/", "report_key": "reports/2026-11-20.json", "top": 20})
        self.assertEqual(worker.validate({"bucket": "b", "prefix": "/"})["report_key"], "reports/slow-logs.json")


if __name__ == "__main__":
    unittest.main()
