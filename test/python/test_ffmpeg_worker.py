"""containers/ffmpeg/worker.py: validation, ffmpeg output parsing, and whole runs of the worker
process against a fake S3 / DynamoDB with a clip made by the bundled ffmpeg."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import support
import asynctask_runtime as rt
from fakeaws import FakeAws

worker = support.load_worker("ffmpeg")
FFMPEG = support.ffmpeg_binary()
WORKER = os.path.join(support.ROOT, "containers", "ffmpeg", "worker.py")
FUNCTION = "transcode"


class ValidateTest(unittest.TestCase):
    def test_accepts_the_article_payload(self):
        self.assertEqual(
            worker.validate({"bucket": "my-bucket", "object": "480P.mp4", "output_dir": "a/", "dst_format": "MOV"}),
            {"bucket": "my-bucket", "object": "480P.mp4", "output_dir": "a", "dst_format": "mov"},
        )

    def test_names_field_value_and_allowed_values(self):
        with self.assertRaises(worker.PayloadError) as raised:
            worker.validate({"bucket": "b", "object": "x.mp4", "output_dir": "a", "dst_format": "mkv"})
        self.assertEqual(
            str(raised.exception),
            "invalid transcode payload: dst_format 'mkv' is not supported; allowed: mov, mp4, flv, avi, webm, m3u8",
        )

    def test_reports_every_problem(self):
        with self.assertRaises(worker.PayloadError) as raised:
            worker.validate({"bucket": "", "output_dir": 3})
        message = str(raised.exception)
        self.assertIn("bucket must be a non-empty string (given '')", message)
        self.assertIn("object must be a non-empty string (given None)", message)
        self.assertIn("output_dir must be a string", message)
        self.assertIn("dst_format None is not supported", message)

    def test_rejects_a_non_object(self):
        with self.assertRaises(worker.PayloadError) as raised:
            worker.validate(["480P.mp4"])
        self.assertIn("payload must be a JSON object", str(raised.exception))


class ParseTest(unittest.TestCase):
    def test_out_time(self):
        self.assertEqual(worker.out_time_seconds({"out_time_us": "1700098", "out_time_ms": "1700098"}), 1.700098)
        self.assertEqual(worker.out_time_seconds({"out_time_ms": "2500000"}), 2.5)
        self.assertEqual(worker.out_time_seconds({"out_time_us": "N/A", "out_time": "00:01:02.500000"}), 62.5)
        self.assertIsNone(worker.out_time_seconds({"out_time_us": "N/A"}))

    def test_duration_regex(self):
        found = worker.DURATION_RE.search("  Duration: 01:02:03.45, start: 0.000000, bitrate: 29 kb/s")
        self.assertEqual(found.groups(), ("01", "02", "03.45"))

    def test_output_names(self):
        self.assertEqual(worker.output_names("videos/480P.mp4", "m3u8"), ("480P", "480P.m3u8"))


@unittest.skipIf(FFMPEG is None, "no ffmpeg (set FFMPEG_PATH or npm ci for @ffmpeg-installer)")
class TranscodeProcessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ffmpeg-worker-test-")
        cls.clip = os.path.join(cls.tmp, "480P.mp4")
        subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
             "testsrc=duration=2:size=160x120:rate=10", "-c:v", "libx264", "-preset", "ultrafast",
             "-pix_fmt", "yuv420p", "-y", cls.clip],
            check=True, timeout=60,
        )
        with open(cls.clip, "rb") as handle:
            cls.clip_bytes = handle.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.aws = FakeAws().__enter__()
        self.addCleanup(self.aws.__exit__, None, None, None)
        self.aws.objects[("media", "clips/480P.mp4")] = self.clip_bytes

    def start(self, payload, **extra) -> subprocess.Popen:
        self.aws.put_item(support.TABLE, support.task_item(payload, function_name=FUNCTION))
        env = support.attempt_env(self.aws.endpoint, function_name=FUNCTION, FFMPEG_PATH=FFMPEG, **extra)
        return subprocess.Popen([sys.executable, WORKER], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def run_worker(self, payload, **extra):
        process = self.start(payload, **extra)
        out, err = process.communicate(timeout=60)
        return process.returncode, out, err

    def item(self):
        return self.aws.item(support.TABLE, FUNCTION, support.TASK_ID)

    def result(self):
        return json.loads(self.aws.objects[(support.RESULT_BUCKET, support.RESULT_KEY)])

    def probe(self, data: bytes, suffix: str) -> str:
        path = os.path.join(self.tmp, f"probe{suffix}")
        with open(path, "wb") as handle:
            handle.write(data)
        return subprocess.run([FFMPEG, "-hide_banner", "-i", path], capture_output=True, text=True).stderr

    def test_mp4(self):
        code, out, err = self.run_worker(
            {"bucket": "media", "object": "clips/480P.mp4", "output_dir": "out/a", "dst_format": "mp4"})
        self.assertEqual(code, 0, out + err)
        result = self.result()
        self.assertEqual(result["dst_format"], "mp4")
        self.assertAlmostEqual(result["duration_seconds"], 2.0, places=2)
        self.assertEqual(len(result["outputs"]), 1)
        output = result["outputs"][0]
        self.assertEqual((output["bucket"], output["key"]), ("media", "out/a/480P.mp4"))
        data = self.aws.objects[("media", "out/a/480P.mp4")]
        self.assertEqual(output["bytes"], len(data))
        info = self.probe(data, ".mp4")
        self.assertIn("Duration: 00:00:02.00", info)
        self.assertIn("h264", info)
        item = self.item()
        self.assertEqual(item["status"], "Running")  # the state machine writes Succeeded
        self.assertEqual(item["progress"]["percent"], 100)
        for line in out.strip().splitlines():
            self.assertEqual(json.loads(line)["taskId"], support.TASK_ID)
        progress_lines = [json.loads(line) for line in out.splitlines() if '"progress"' in line]
        self.assertTrue(progress_lines, "progress is reported")

    def test_m3u8_uploads_playlist_and_segments(self):
        code, out, err = self.run_worker(
            {"bucket": "media", "object": "clips/480P.mp4", "output_dir": "hls", "dst_format": "m3u8"})
        self.assertEqual(code, 0, out + err)
        result = self.result()
        keys = [o["key"] for o in result["outputs"]]
        self.assertEqual(keys[0], "hls/480P.m3u8")
        segments = keys[1:]
        self.assertGreaterEqual(len(segments), 1)
        for key in segments:
            self.assertRegex(key, r"^hls/480P_\d{5}\.ts$")
            self.assertIn(("media", key), self.aws.objects)
        playlist = self.aws.objects[("media", "hls/480P.m3u8")].decode()
        self.assertTrue(playlist.startswith("#EXTM3U"))
        self.assertIn("#EXT-X-ENDLIST", playlist)
        listed = [line for line in playlist.splitlines() if line.endswith(".ts")]
        self.assertEqual(["hls/" + name for name in listed], segments)
        put = [r for r in self.aws.s3_requests("PUT") if r.path == "/media/hls/480P.m3u8"][0]
        self.assertEqual(put.headers["content-type"], "application/vnd.apple.mpegurl")

    def test_every_other_format(self):
        codecs = {"mov": "h264", "flv": "h264", "avi": "mpeg4", "webm": "vp9"}
        for dst_format, codec in codecs.items():
            with self.subTest(dst_format=dst_format):
                self.aws.objects.pop((support.RESULT_BUCKET, support.RESULT_KEY), None)
                code, out, err = self.run_worker(
                    {"bucket": "media", "object": "clips/480P.mp4", "output_dir": "", "dst_format": dst_format})
                self.assertEqual(code, 0, out + err)
                self.assertEqual(self.result()["outputs"][0]["key"], f"480P.{dst_format}")
                info = self.probe(self.aws.objects[("media", f"480P.{dst_format}")], f".{dst_format}")
                self.assertIn(codec, info)
                self.assertRegex(info, r"Duration: 00:00:02\.\d\d")

    def test_invalid_payload_fails_without_downloading(self):
        code, out, _ = self.run_worker({"bucket": "media", "object": "clips/480P.mp4", "dst_format": "gif"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        self.assertIn("dst_format 'gif' is not supported; allowed: mov, mp4, flv, avi, webm, m3u8",
                      self.item()["taskErrorMessage"])
        self.assertEqual(self.aws.s3_requests("GET"), [])

    def test_unreadable_input_fails_with_ffmpeg_message(self):
        self.aws.objects[("media", "clips/broken.mp4")] = b"this is not a video"
        code, _, _ = self.run_worker(
            {"bucket": "media", "object": "clips/broken.mp4", "output_dir": "o", "dst_format": "mov"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        message = self.item()["taskErrorMessage"]
        self.assertRegex(message, r"^InputError: s3://media/clips/broken\.mp4 is not a video ffmpeg can read: ")
        self.assertNotIn("Traceback", message)
        self.assertNotIn((support.RESULT_BUCKET, support.RESULT_KEY), self.aws.objects)

    def test_fails_if_the_object_or_the_bucket_is_missing_naming_it(self):
        for bucket, key in (("media", "clips/nope.mp4"), ("no-bucket", "clips/480P.mp4")):
            with self.subTest(bucket=bucket):
                self.aws.put_item(support.TABLE, support.task_item({}, function_name=FUNCTION))
                work = tempfile.mkdtemp(prefix="missing-", dir=self.tmp)
                code, _, _ = self.run_worker(
                    {"bucket": bucket, "object": key, "output_dir": "o", "dst_format": "mov"}, TASK_WORK_DIR=work)
                self.assertEqual(code, rt.EXIT_INVALID_INPUT)
                self.assertEqual(self.item()["taskErrorMessage"],
                                 f"InputError: s3 GetObject s3://{bucket}/{key} failed: HTTP 404 NoSuchKey: "
                                 "The specified key does not exist.")
                self.assertNotIn((support.RESULT_BUCKET, support.RESULT_KEY), self.aws.objects)
                self.assertEqual(os.listdir(work), [])  # scratch space removed

    def test_fails_if_a_field_is_missing_naming_every_one(self):
        code, _, _ = self.run_worker({"dst_format": "mov"})
        self.assertEqual(code, rt.EXIT_INVALID_INPUT)
        self.assertEqual(self.item()["taskErrorMessage"],
                         "PayloadError: invalid transcode payload: bucket must be a non-empty string (given None); "
                         "object must be a non-empty string (given None)")
        self.assertEqual(self.aws.s3_requests("GET"), [])

    def test_sigterm_kills_ffmpeg(self):
        # A longer clip, so the transcode is still running when the stop arrives.
        long_clip = os.path.join(self.tmp, "long.mp4")
        subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
             "testsrc=duration=60:size=320x240:rate=25", "-c:v", "libx264", "-preset", "ultrafast",
             "-y", long_clip],
            check=True, timeout=60,
        )
        with open(long_clip, "rb") as handle:
            self.aws.objects[("media", "clips/long.mp4")] = handle.read()
        workdir = tempfile.mkdtemp(prefix="sigterm-", dir=self.tmp)
        process = self.start({"bucket": "media", "object": "clips/long.mp4", "output_dir": "o", "dst_format": "webm"},
                             TASK_WORK_DIR=workdir)
        deadline = time.monotonic() + 30
        ffmpeg_pids = []
        while time.monotonic() < deadline and not ffmpeg_pids:
            ffmpeg_pids = self.ffmpeg_processes(workdir)
            time.sleep(0.05)
        self.assertTrue(ffmpeg_pids, "ffmpeg started")
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
        self.assertEqual(process.returncode, 143)
        time.sleep(0.1)
        self.assertEqual(self.ffmpeg_processes(workdir), [], "ffmpeg was killed")
        self.assertIn("terminated by SIGTERM", self.item()["taskErrorMessage"])
        self.assertNotIn((support.RESULT_BUCKET, support.RESULT_KEY), self.aws.objects)
        self.assertEqual(os.listdir(workdir), [], "the work directory is removed")

    @staticmethod
    def ffmpeg_processes(marker: str) -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{pid}/stat") as handle:
                    state = re.sub(r"^.*\) ", "", handle.read()).split()[0]
            except OSError:
                continue
            if marker in cmdline and "ffmpeg" in cmdline and "-progress" in cmdline and state != "Z":
                found.append(int(pid))
        return found


if __name__ == "__main__":
    unittest.main()
