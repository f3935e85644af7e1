"""Print a JAVA_HOME whose Java is 17 or 21, the versions Spark 4 supports.

Why: the machine may default to another JDK (e.g. 25); the Makefile must pick one
explicitly rather than let Spark fail at start-up with an obscure error.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

SUPPORTED = ("17", "21")


def major_version(java_home: Path) -> str | None:
    java = java_home / "bin" / "java"
    if not java.exists():
        return None
    out = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    return match.group(1) if match else None


def main() -> int:
    candidates = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    jvm_root = Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        candidates += sorted(p for p in jvm_root.iterdir() if p.is_dir() and not p.is_symlink())
    for home in candidates:
        if major_version(home) in SUPPORTED:
            print(home)
            return 0
    print("no Java 17 or 21 found: install openjdk-17-jdk", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
