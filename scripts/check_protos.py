"""Check that the generated protobuf modules match their .proto files (run by `make lint`).

Regenerates featurestore/protos/*_pb2.py into a temporary folder with the pinned
grpcio-tools and compares byte for byte; a difference means someone edited a .proto
without `make proto` (or the generated file by hand).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ["featurestore/protos/value.proto", "featurestore/protos/registry.proto", "featurestore/protos/feast_registry.proto",
          "featurestore/protos/legacy_value.proto"]


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(ROOT), f"--python_out={out}", *PROTOS],
                       check=True, cwd=ROOT)
        stale = [p for p in PROTOS
                 if (Path(out) / p.replace(".proto", "_pb2.py")).read_bytes() !=
                 (ROOT / p.replace(".proto", "_pb2.py")).read_bytes()]
    for proto in stale:
        print(f"{proto.replace('.proto', '_pb2.py')} does not match {proto}; run `make proto` and commit the result")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
