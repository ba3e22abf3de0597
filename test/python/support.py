"""Shared helpers of the Python suites: import paths, a task item, the attempt environment."""

from __future__ import annotations

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUNTIME_DIR = os.path.join(ROOT, "runtime", "python")
FIXTURES = os.path.join(ROOT, "test", "fixtures")
if RUNTIME_DIR not in sys.path:
    sys.path.insert(0, RUNTIME_DIR)

TABLE = "Tasks"
FUNCTION = "transcode"
TASK_ID = "my1-480P-mp4"
REQUEST_ID = "7b0c3c6e-0000-4000-8000-000000000001"
EXECUTION_ARN = f"arn:aws:states:us-east-1:123456789012:execution:transcode-sm:{REQUEST_ID}"
RESULT_BUCKET = "results-bucket"
RESULT_KEY = f"results/{FUNCTION}/{TASK_ID}/{REQUEST_ID}/1.json"


def ffmpeg_binary() -> str | None:
    configured = os.environ.get("FFMPEG_PATH")
    if configured and os.path.exists(configured):
        return configured
    bundled = os.path.join(ROOT, "node_modules", "@ffmpeg-installer", "linux-x64", "ffmpeg")
    return bundled if os.path.exists(bundled) else None


def load_worker(kind: str):
    """Imports containers/<kind>/worker.py under a unique module name."""
    import importlib.util

    path = os.path.join(ROOT, "containers", kind, "worker.py")
    spec = importlib.util.spec_from_file_location(f"{kind}_worker", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def task_item(payload, status: str = "Enqueued", deadline: str = "2999-01-01T00:00:00.000Z",
              execution_arn: str = EXECUTION_ARN, function_name: str = FUNCTION, task_id: str = TASK_ID) -> dict:
    import json

    started = "2026-11-25T12:00:00.000Z"
    return {
        "functionName": function_name,
        "taskId": task_id,
        "requestId": REQUEST_ID,
        "status": status,
        "statusKey": f"{function_name}#{status}",
        "listKey": f"{started}#{task_id}",
        "taskPayload": json.dumps(payload),
        "alreadyRetriedTimes": 0,
        "startedAt": started,
        "deadline": deadline,
        "events": [{"status": "Enqueued", "at": started}],
        "executionArn": execution_arn,
        "expiresAt": 1_900_000_000,
    }


def attempt_env(endpoint: str, function_name: str = FUNCTION, task_id: str = TASK_ID, **extra) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TASK_ID": task_id,
        "TASK_FUNCTION": function_name,
        "ATTEMPT": "1",
        "TASK_REQUEST_ID": REQUEST_ID,
        "TASK_EXECUTION_ARN": EXECUTION_ARN,
        "TASK_DEADLINE": "2999-01-01T00:00:00.000Z",
        "TASK_TABLE": TABLE,
        "TASK_RESULT_BUCKET": RESULT_BUCKET,
        "TASK_RESULT_KEY": RESULT_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "AWS_ENDPOINT_URL": endpoint,
    }
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
