"""The helper takes every value it shares with the TypeScript model from asynctask_contract.json.

test/unit/model/contract.test.ts keeps that file equal to what lambda/model generates; these
tests keep the helper equal to the file: each contract value is bound to one module-level name,
no contract value is left without one, none is retyped as a literal, and a missing or broken
file stops the import with an error naming it.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import support

import asynctask_runtime as rt

CONTRACT_PATH = os.path.join(support.RUNTIME_DIR, "asynctask_contract.json")
HELPER_PATH = os.path.join(support.RUNTIME_DIR, "asynctask_runtime.py")

# Contract key → the helper's module-level name holding its value.
BINDINGS = {
    "env.container.taskId": "ENV_TASK_ID",
    "env.container.functionName": "ENV_FUNCTION",
    "env.container.attempt": "ENV_ATTEMPT",
    "env.container.requestId": "ENV_REQUEST_ID",
    "env.container.executionArn": "ENV_EXECUTION_ARN",
    "env.container.deadline": "ENV_DEADLINE",
    "env.container.table": "ENV_TABLE",
    "env.container.resultBucket": "ENV_RESULT_BUCKET",
    "env.container.resultKey": "ENV_RESULT_KEY",
    "env.log.streamPrefix": "ENV_LOG_STREAM_PREFIX",
    "env.log.containerName": "ENV_CONTAINER_NAME",
    "env.log.stream": "ENV_LOG_STREAM",
    "env.local.taskArn": "ENV_LOCAL_TASK_ARN",
    "statuses": "STATUSES",
    "transitions.Running": "RUNNING_FROM",
    "table.partitionKey": "KEY_PARTITION",
    "table.sortKey": "KEY_SORT",
    "table.statusKey": "ATTR_STATUS_KEY",
    "table.separator": "KEY_SEPARATOR",
    "item.status": "ATTR_STATUS",
    "item.executionArn": "ATTR_EXECUTION_ARN",
    "item.deadline": "ATTR_DEADLINE",
    "item.taskPayload": "ATTR_TASK_PAYLOAD",
    "item.runnerId": "ATTR_RUNNER_ID",
    "item.logStream": "ATTR_LOG_STREAM",
    "item.events": "ATTR_EVENTS",
    "item.progress": "ATTR_PROGRESS",
    "item.taskErrorMessage": "ATTR_ERROR_MESSAGE",
    "event.status": "EVENT_STATUS",
    "event.at": "EVENT_AT",
    "event.detail": "EVENT_DETAIL",
    "progress.percent": "PROGRESS_PERCENT",
    "progress.message": "PROGRESS_MESSAGE",
    "progress.updatedAt": "PROGRESS_UPDATED_AT",
    "limits.maxPayloadBytes": "MAX_RESULT_BYTES",
    "limits.maxErrorMessageChars": "MAX_ERROR_MESSAGE_CHARS",
    "limits.errorMessageEllipsis": "ERROR_MESSAGE_ELLIPSIS",
    "resultKeyFormat": "RESULT_KEY_FORMAT",
    "exitCodes.succeeded": "EXIT_SUCCEEDED",
    "exitCodes.failed": "EXIT_FAILED",
    "exitCodes.invalidInput": "EXIT_INVALID_INPUT",
    "exitCodes.notRunnable": "EXIT_NOT_RUNNABLE",
    "exitCodes.terminated": "EXIT_TERMINATED",
}
# Checked by behaviour instead of by name: the documentation field, and the time samples that
# iso_now must reproduce.
NOT_NAMES = ("$comment", "time")
# The helper's own log lines: field names and a message that happen to equal attribute names.
LOG_STRINGS = {"taskId", "functionName", "message", "progress"}


def load() -> dict:
    with open(CONTRACT_PATH, encoding="utf-8") as handle:
        return json.load(handle)


def lookup(contract: dict, dotted: str):
    value = contract
    for part in dotted.split("."):
        value = value[part]
    return value


def leaves(value, at: str = ""):
    """Contract keys down to the first value that is not an object; `statuses` is one value."""
    if isinstance(value, dict) and at != "statuses":
        for key, inner in value.items():
            yield from leaves(inner, f"{at}.{key}" if at else key)
    else:
        yield at


def string_values(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from string_values(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from string_values(inner)


class ContractNamesTest(unittest.TestCase):
    def test_every_bound_name_holds_the_contract_value(self):
        contract = load()
        for key, name in BINDINGS.items():
            with self.subTest(key=key, name=name):
                expected = lookup(contract, key)
                actual = getattr(rt, name)
                if isinstance(expected, list):
                    actual = list(actual)
                self.assertEqual(actual, expected, f"asynctask_runtime.{name} is not the contract's {key}")

    def test_every_contract_value_is_bound_to_a_name(self):
        contract = {k: v for k, v in load().items() if k not in NOT_NAMES}
        unbound = [key for key in leaves(contract) if key not in BINDINGS]
        self.assertEqual(unbound, [], "contract keys with no name in asynctask_runtime (add one, and a binding here)")
        stale = [key for key in BINDINGS if key not in set(leaves(contract))]
        self.assertEqual(stale, [], "bindings to keys the contract no longer has")

    def test_no_contract_string_is_retyped_in_the_helper(self):
        contract = {k: v for k, v in load().items() if k not in NOT_NAMES}
        shared = {s for s in string_values(contract) if len(s) > 1} - LOG_STRINGS
        with open(HELPER_PATH, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        docstrings = {
            id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node) is not None
        }
        found = sorted({
            f"line {node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value in shared and id(node) not in docstrings
        })
        self.assertEqual(found, [], "take these from the contract instead")

    def test_iso_now_formats_times_as_the_model_stores_them(self):
        for sample in load()["time"]["samples"]:
            with self.subTest(epochMs=sample["epochMs"]):
                self.assertEqual(rt.iso_now(sample["epochMs"] / 1000), sample["iso"])

    def test_the_terminated_exit_code_is_what_a_shell_reports_for_sigterm(self):
        self.assertEqual(rt.EXIT_TERMINATED, 128 + signal.SIGTERM)

    def test_a_long_error_message_is_cut_to_the_limit(self):
        limit, ellipsis = rt.MAX_ERROR_MESSAGE_CHARS, rt.ERROR_MESSAGE_ELLIPSIS
        runtime = rt.Runtime({rt.ENV_TASK_ID: "t1", rt.ENV_PAYLOAD: "{}"}, out=open(os.devnull, "w"))
        self.addCleanup(runtime.out.close)
        logged = []
        runtime.log = lambda message, level="info", **fields: logged.append(fields)
        runtime.fail(ValueError("x" * (2 * limit)))
        self.assertEqual(len(logged[-1]["error"]), limit)
        self.assertTrue(logged[-1]["error"].endswith(ellipsis))
        runtime.fail(ValueError("y" * (limit - len("ValueError: "))))
        self.assertEqual(logged[-1]["error"], "ValueError: " + "y" * (limit - len("ValueError: ")))


class ContractFileTest(unittest.TestCase):
    """Imports a copy of the helper whose contract file is missing or broken."""

    def import_with(self, contract_text: str | None) -> subprocess.CompletedProcess:
        folder = tempfile.mkdtemp(prefix="asynctask-contract-")
        self.addCleanup(shutil.rmtree, folder, True)
        shutil.copy(HELPER_PATH, folder)
        for name in os.listdir(support.RUNTIME_DIR):
            if name.endswith(".py") and name != "asynctask_runtime.py":
                shutil.copy(os.path.join(support.RUNTIME_DIR, name), folder)
        if contract_text is not None:
            with open(os.path.join(folder, "asynctask_contract.json"), "w", encoding="utf-8") as handle:
                handle.write(contract_text)
        return subprocess.run([sys.executable, "-c", "import asynctask_runtime"], cwd=folder,
                              capture_output=True, text=True, timeout=30,
                              env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"})

    def assert_fails_naming(self, result: subprocess.CompletedProcess, *fragments: str) -> None:
        self.assertNotEqual(result.returncode, 0)
        last = result.stderr.strip().splitlines()[-1]
        self.assertTrue(last.startswith("asynctask_runtime.ContractError: "), last)
        self.assertIn("asynctask_contract.json", last)
        for fragment in fragments:
            self.assertIn(fragment, last)

    def test_the_copied_helper_imports_with_the_real_contract(self):
        with open(CONTRACT_PATH, encoding="utf-8") as handle:
            result = self.import_with(handle.read())
        self.assertEqual((result.returncode, result.stderr), (0, ""))

    def test_fails_if_the_contract_file_is_missing(self):
        self.assert_fails_naming(self.import_with(None), "cannot read the asynctask contract", "No such file")

    def test_fails_if_the_contract_file_is_not_json(self):
        self.assert_fails_naming(self.import_with("{"), "is not valid JSON")

    def test_fails_if_the_contract_lacks_a_key(self):
        contract = load()
        del contract["limits"]["maxErrorMessageChars"]
        self.assert_fails_naming(self.import_with(json.dumps(contract)), "has no 'limits.maxErrorMessageChars'")


if __name__ == "__main__":
    unittest.main()
