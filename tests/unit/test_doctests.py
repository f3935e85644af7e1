"""Docstring examples are run: every `>>>` in featurestore/ is either a doctest here or listed as not runnable.

Examples run in a fresh process per module (doctest.testmod), without Spark and without a
repo on disk, and must not import pyspark. A new module with `>>>` examples fails
`test_every_module_with_examples_is_accounted_for` until it is added to RUN (or, when it
truly needs Spark or a repo, to NOT_RUNNABLE with the reason).
"""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

RUN = [
    "featurestore.definitions._checks",
    "featurestore.definitions.entity",
    "featurestore.definitions.feature_service",
    "featurestore.definitions.field",
    "featurestore.definitions.kafka",
    "featurestore.definitions.on_demand",
    "featurestore.definitions.logging_config",
    "featurestore.definitions.project",
    "featurestore.definitions.sources",
    "featurestore.errors",
    "featurestore.jsonio",
    "featurestore.offline.schema_reader",
    "featurestore.scaffold",
    "featurestore.times",
    "featurestore.values",
    "featurestore.types",
    "featurestore.quality.drift",
    "featurestore.online.sqlite",
    "featurestore.plan",
]
NOT_RUNNABLE: dict[str, str] = {}

RUNNER = """
import doctest, importlib, sys
module = importlib.import_module(sys.argv[1])
failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
spark = sorted(m for m in sys.modules if m.startswith("pyspark"))
print(failed, attempted, ",".join(spark) or "-")
"""


def modules_with_examples() -> set[str]:
    found = set()
    for path in (ROOT / "featurestore").rglob("*.py"):
        if ">>>" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def module_name(entry) -> str:
    return entry if isinstance(entry, str) else entry.values[0]


@pytest.mark.parametrize("module", RUN)
def test_docstring_examples_pass(module):
    result = subprocess.run([sys.executable, "-c", RUNNER, module], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    *report, summary = result.stdout.splitlines()
    failed, attempted, spark = summary.split()
    assert int(attempted) > 0, f"{module} has no examples: remove it from RUN"
    assert int(failed) == 0, "\n".join(report)[-3000:]
    assert spark == "-", f"the examples of {module} imported {spark}"


def test_every_module_with_examples_is_accounted_for():
    listed = {module_name(entry) for entry in RUN} | set(NOT_RUNNABLE)
    assert modules_with_examples() == listed
