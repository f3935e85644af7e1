"""Every module of the package imports in a fresh process without a JVM: a module that names
something moved elsewhere (a Feast import path re-exporting a class) fails here, not in a
user's repo."""
import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, featurestore
failed = []
for module in pkgutil.walk_packages(featurestore.__path__, "featurestore."):
    if module.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(module.name)
    except Exception as error:
        failed.append(f"{module.name}: {type(error).__name__}: {error}")
print("\\n".join(failed))
"""


def test_every_module_imports():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
