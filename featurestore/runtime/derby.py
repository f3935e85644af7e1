"""A Derby network server process: what `make metastore-up` runs (python -m
featurestore.runtime.metastore up) for a metastore several processes share, and what the
shared catalog server (metastore_server) starts and stops."""
from __future__ import annotations

import os
import time
from pathlib import Path

from featurestore.errors import SparkSetupError
from featurestore.runtime.jars import DERBY_VERSION, derby_jar
from featurestore.runtime.processes import launch, listening, stop_launched

HOST, PORT = "127.0.0.1", 1527

def server_classpath() -> list[Path]:
    """derby, derbyshared, derbytools from pyspark's jars plus derbynet (fetched by `make setup`)."""
    import pyspark

    bundled = Path(pyspark.__file__).resolve().parent / "jars"
    jars = [bundled / f"{name}-{DERBY_VERSION}.jar" for name in ("derby", "derbyshared", "derbytools")]
    for jar in jars:
        if not jar.is_file():
            raise SparkSetupError(f"{jar} not found: pyspark's bundled Derby is not version {DERBY_VERSION}; "
                                  f"update featurestore.runtime.jars.DERBY_VERSION and the Makefile to match it")
    return [*jars, derby_jar("derbynet")]


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


def server_command(state_dir: Path, host: str, port: int, java_options: tuple[str, ...] = ()) -> list[str]:
    """The command line of a Derby network server on host:port with its home in state_dir."""
    classpath = os.pathsep.join(str(j) for j in server_classpath())
    return [_java(), *java_options, "-cp", classpath, f"-Dderby.system.home={state_dir}",
            "org.apache.derby.drda.NetworkServerControl", "start", "-h", host, "-p", str(port), "-noSecurityManager"]


def server_url(host: str = HOST, port: int = PORT) -> str:
    return f"jdbc:derby://{host}:{port}/{{metastore_dir}};create=true"


def start_server(state_dir: Path, host: str = HOST, port: int = PORT, timeout: float = 30.0) -> str:
    """Start a Derby network server (logs and pid in state_dir); returns the URL to use."""
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    pid_file = state_dir / "derby.pid"
    if listening(host, port):
        raise SparkSetupError(f"{host}:{port} is already in use (a metastore server may run: pid file {pid_file}); "
                              f"stop it with `make metastore-down`, or choose another port")
    command = server_command(state_dir, host, port)
    process = launch(command, state_dir / "derby-server.log", pid_file, f"{host} {port}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if listening(host, port):
            return server_url(host, port)
        if process.poll() is not None:
            break
        time.sleep(0.3)
    stop_server(state_dir)
    tail = (state_dir / "derby-server.log").read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise SparkSetupError(f"the Derby network server did not start on {host}:{port} within {timeout:g} s: {tail[0]}; "
                          f"see {state_dir / 'derby-server.log'}")


def stop_server(state_dir: Path, timeout: float = 15.0) -> bool:
    """Stop the server started by start_server; False when none was running."""
    pid_file = Path(state_dir) / "derby.pid"
    if not pid_file.is_file():
        return False
    _, host, port = pid_file.read_text().split()
    # Derby shuts its databases down cleanly on SIGTERM; it is gone once its port closes
    return stop_launched(pid_file, timeout, gone=lambda: not listening(host, int(port)), kill=False)
