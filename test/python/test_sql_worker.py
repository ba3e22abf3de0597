"""containers/python/worker.py: fingerprints, slow-log parsing and exact aggregates of
test/fixtures/slow-query.log, and a whole run against a fake S3 / DynamoDB."""

from __future__ import annotations

import gzip
import io
import json
import os
import unittest

import support
from fakeaws import FakeAws

import asynctask_runtime as rt

worker = support.load_worker("python")
FIXTURE = os.path.join(support.FIXTURES, "slow-query.log")
FUNCTION = "sql-log-analysis"

ORDERS = "select * from orders where customer_id = ? and status in(?+)"
DAILY = "select date(created_at) as day, sum(total) from orders where created_at >= ? group by day"
CARTS = "update carts set updated_at = now(), items = ? where id = ?"
EVENTS = "insert into events (kind, payload) values(?+)"
SESSIONS = "select id, user_id from sessions where token = ? and expires_at > ?"


class FingerprintTest(unittest.TestCase):
    def test_literals_in_lists_case_and_whitespace(self):
        self.assertEqual(worker.fingerprint("SELECT * FROM orders WHERE customer_id = 42 AND status IN ('new', 'paid');"), ORDERS)
        self.assertEqual(worker.fingerprint("select *\n  from orders\n where customer_id=7\n and status in ( \"a\" );"), ORDERS)

    def test_comments_hex_negative_numbers_and_escaped_quotes(self):
        self.assertEqual(
            worker.fingerprint("SELECT a FROM t /* hint */ WHERE b = 0xFF AND c = -5 AND d = 'it''s' -- trailing"),
            "select a from t where b = ? and c = ? and d = ?",
        )

    def test_values_lists(self):
        self.assertEqual(worker.fingerprint("INSERT INTO events (kind, payload) VALUES ('click', 'a;b'), ('view', 'x')"), EVENTS)

    def test_identifiers_with_digits_stay(self):
        self.assertEqual(worker.fingerprint("SELECT t1.c2 FROM t1 WHERE t1.id = 3"), "select t1.c2 from t1 where t1.id = ?")

    def test_p95_is_nearest_rank(self):
        self.assertEqual(worker.p95([1.0, 2.0, 3.0, 4.0]), 4.0)
        self.assertEqual(worker.p95([x / 10 for x in range(1, 21)]), 1.9)
        self.assertEqual(worker.p95([5.0]), 5.0)


class AnalyseFixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(FIXTURE, encoding="utf-8") as handle:
            cls.report = worker.analyse(handle, top=20)
        cls.by_fp = {q["fingerprint"]: q for q in cls.report["queries"]}

    def test_totals(self):
        self.assertEqual(self.report["entries"], 30)
        self.assertEqual(self.report["fingerprints"], 5)
        self.assertEqual(self.report["total_query_time"], 68.75)
        self.assertEqual(self.report["time_range"], {"first": "2026-11-20T08:00:01.000Z", "last": "2026-11-20T10:00:20.000Z"})

    def test_sorted_by_total_time(self):
        self.assertEqual([q["fingerprint"] for q in self.report["queries"]], [DAILY, SESSIONS, ORDERS, CARTS, EVENTS])

    def test_orders_aggregate(self):
        q = self.by_fp[ORDERS]
        self.assertEqual(q["count"], 4)
        self.assertEqual(q["query_time"], {"total": 13.0, "mean": 3.25, "p95": 6.0, "max": 6.0, "min": 1.0})
        self.assertEqual(q["lock_time"], {"total": 0.0006, "mean": 0.00015, "max": 0.0003})
        self.assertEqual(q["rows_examined"], {"total": 240000, "mean": 60000.0, "max": 90000})
        self.assertEqual(q["rows_sent"], {"total": 11, "mean": 2.75, "max": 5})
        self.assertEqual(q["databases"], ["shop"])
        self.assertEqual(q["users"], ["shop@app1", "shop@app2"])
        self.assertEqual(q["hosts"], ["app1", "app2"])
        self.assertEqual((q["first_seen"], q["last_seen"]), ("2026-11-20T08:00:01.000Z", "2026-11-20T09:00:30.000Z"))
        self.assertEqual(q["share_of_total_time"], round(13.0 / 68.75, 6))
        # The example is the slowest statement, as written.
        self.assertEqual(q["example"], 'SELECT * FROM orders WHERE customer_id = 8 AND status IN ("new", "paid");')

    def test_multi_line_statement_across_a_server_restart(self):
        q = self.by_fp[DAILY]
        self.assertEqual(q["count"], 2)
        self.assertEqual(q["query_time"], {"total": 33.0, "mean": 16.5, "p95": 20.5, "max": 20.5, "min": 12.5})
        self.assertEqual(q["rows_examined"], {"total": 4100000, "mean": 2050000.0, "max": 2100000})
        self.assertEqual(q["rows_sent"]["total"], 61)
        self.assertEqual(q["lock_time"]["total"], 0.003)
        self.assertEqual(q["databases"], ["analytics"])
        self.assertEqual(q["example"], "SELECT DATE(created_at) AS day, SUM(total)\nFROM orders\nWHERE created_at >= '2026-10-01'\nGROUP BY day;")

    def test_sessions_p95_over_twenty_entries(self):
        q = self.by_fp[SESSIONS]
        self.assertEqual(q["count"], 20)
        self.assertEqual(q["query_time"], {"total": 21.0, "mean": 1.05, "p95": 1.9, "max": 2.0, "min": 0.1})
        self.assertEqual(q["rows_examined"], {"total": 200, "mean": 10.0, "max": 10})
        self.assertEqual(q["databases"], ["auth"])

    def test_carts_and_events(self):
        carts = self.by_fp[CARTS]
        self.assertEqual(carts["count"], 3)
        self.assertEqual(carts["query_time"], {"total": 1.5, "mean": 0.5, "p95": 0.7, "max": 0.7, "min": 0.3})
        self.assertEqual(carts["rows_examined"]["total"], 3)
        events = self.by_fp[EVENTS]
        self.assertEqual(events["count"], 1)
        self.assertEqual(events["query_time"]["total"], 0.25)
        self.assertEqual(events["databases"], ["telemetry"])

    def test_top_limits_the_list_not_the_totals(self):
        with open(FIXTURE, encoding="utf-8") as handle:
            report = worker.analyse(handle, top=2)
        self.assertEqual([q["fingerprint"] for q in report["queries"]], [DAILY, SESSIONS])
        self.assertEqual(report["fingerprints"], 5)

    def test_entries_without_time_or_statement(self):
        text = "\n".join([
            "# Query_time: 1.0  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 5",
            "SELECT 1;",
            "# User@Host: a[a] @  [10.0.0.1]  Id: 9",
            "# Query_time: 3.0  Lock_time: 0.5 Rows_sent: 1  Rows_examined: 7",
            "# Time: 2026-01-01T00:00:00Z",
            "# User@Host: a[a] @ h []  Id: 9",
            "# Query_time: 2.0  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 1",
            "SET timestamp=1767225600;",
            "SELECT 2;",
        ])
        report = worker.analyse(io.StringIO(text))
        self.assertEqual(report["entries"], 2)  # the entry without a statement is skipped
        self.assertEqual(report["queries"][0]["fingerprint"], "select ?")
        self.assertEqual(report["queries"][0]["query_time"]["total"], 3.0)
        self.assertEqual(report["queries"][0]["users"], ["a@h"])
        self.assertEqual(report["queries"][0]["hosts"], ["h"])


class ValidateTest(unittest.TestCase):
    def test_defaults(self):
        self.assertEqual(worker.validate({"bucket": "b", "object": "logs/mysql-slow.log.gz"}),
                         {"bucket": "b", "object": "logs/mysql-slow.log.gz", "report_key": "reports/mysql-slow.json", "top": 20})

    def test_errors_name_field_and_value(self):
        with self.assertRaises(worker.PayloadError) as raised:
            worker.validate({"bucket": "b", "object": "", "top": 0, "report_key": ""})
        message = str(raised.exception)
        self.assertIn("object must be a non-empty string (given '')", message)
        self.assertIn("top must be an integer between 1 and 1000 inclusive (given 0)", message)
        self.assertIn("report_key must be a non-empty S3 key (given '')", message)


class WorkerRunTest(unittest.TestCase):
    def setUp(self):
        self.aws = FakeAws().__enter__()
        self.addCleanup(self.aws.__exit__, None, None, None)
        with open(FIXTURE, "rb") as handle:
            self.log_bytes = handle.read()

    def execute(self, payload) -> tuple[int, str]:
        self.aws.put_item(support.TABLE, support.task_item(payload, function_name=FUNCTION))
        env = support.attempt_env(self.aws.endpoint, function_name=FUNCTION)
        out = io.StringIO()
        runtime = rt.Runtime(env, client=rt.AwsClient(env, retry_base_delay=0.01), out=out)
        return runtime.execute(worker.handler), out.getvalue()

    def test_writes_the_report_and_returns_the_summary(self):
        self.aws.objects[("logs", "mysql/slow-query.log")] = self.log_bytes
        code, out = self.execute({"bucket": "logs", "object": "mysql/slow-query.log", "top": 3})
        self.assertEqual(code, 0, out)
        result = json.loads(self.aws.objects[(support.RESULT_BUCKET, support.RESULT_KEY)])
        report_bytes = self.aws.objects[("logs", "reports/slow-query.json")]
        self.assertEqual(result["entries"], 30)
        self.assertEqual(result["fingerprints"], 5)
        self.assertEqual(result["total_query_time"], 68.75)
        self.assertEqual(result["report"], {"bucket": "logs", "key": "reports/slow-query.json", "bytes": len(report_bytes)})
        self.assertEqual(result["top"][0], {"fingerprint": DAILY, "count": 2, "total": 33.0, "mean": 16.5, "p95": 20.5, "max": 20.5})
        self.assertEqual([t["fingerprint"] for t in result["top"]], [DAILY, SESSIONS, ORDERS])
        report = json.loads(report_bytes)
        self.assertEqual(report["source"], {"bucket": "logs", "key": "mysql/slow-query.log", "bytes": len(self.log_bytes)})
        self.assertEqual(report["top"], 3)
        self.assertEqual(len(report["queries"]), 3)
        self.assertEqual(self.aws.item(support.TABLE, FUNCTION, support.TASK_ID)["progress"]["percent"], 100)

    def test_gzip_log_and_custom_report_key(self):
        self.aws.objects[("logs", "slow.log.gz")] = gzip.compress(self.log_bytes)
        code, out = self.execute({"bucket": "logs", "object": "slow.log.gz", "report_key": "out/r.json"})
        self.assertEqual(code, 0, out)
        report = json.loads(self.aws.objects[("logs", "out/r.json")])
        self.assertEqual(report["entries"], 30)
        self.assertEqual(len(report["queries"]), 5)

    def test_missing_log_fails_naming_it(self):
        code, _ = self.execute({"bucket": "logs", "object": "nope.log"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        self.assertIn("s3 GetObject s3://logs/nope.log failed: HTTP 404 NoSuchKey", self.aws.item(support.TABLE, FUNCTION, support.TASK_ID)["taskErrorMessage"])


if __name__ == "__main__":
    unittest.main()
