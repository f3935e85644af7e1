"""A `featurestore stream` job for the streaming benchmarks, in its own process: started,
waited for until its first micro-batch is written, its seconds per micro-batch collected
from its log lines, and stopped with SIGTERM (SIGKILL after 30 s)."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from featurestore.runtime.processes import stop_group


@contextlib.contextmanager
def stream_job(repo: Path, view: str) -> Iterator[list[float]]:
    """Yields the list the job's micro-batch seconds are appended to, after its first batch."""
    job = subprocess.Popen([sys.executable, "-m", "featurestore.cli", "stream", "--view", view, "--repo", str(repo)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True)
    try:
        for line in job.stdout:  # the first micro-batch is written
            if "micro-batch 0:" in line and " written, " in line:
                break
        batch_seconds: list[float] = []

        def follow() -> None:
            for output in job.stdout:
                if " written, " in output and output.rstrip().endswith(" s"):
                    batch_seconds.append(float(output.rsplit(",", 1)[1].split()[0]))

        threading.Thread(target=follow, daemon=True).start()
        yield batch_seconds
    finally:
        stop_group(job)
