"""A PostgreSQL server on loopback for one machine: the team set-up's catalog and registry,
tried locally (`make postgres-up`), and the real server the tests start.

    python -m featurestore.runtime.postgres up --state-dir .postgres --port 5433
    python -m featurestore.runtime.postgres down --state-dir .postgres

It runs Debian's own binaries (package postgresql; /usr/lib/postgresql/N/bin), with the
cluster in state_dir, listening on 127.0.0.1 only, with trust authentication for
loopback connections: a server for one machine. A team's production server is its own
PostgreSQL, named by URL in feature_store.yaml (docs/deployment.md). PostgreSQL refuses
to run as root, so under root the server runs as the `postgres` system user.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from featurestore.errors import SparkSetupError
from featurestore.runtime.processes import free_port, listening

HOST = "127.0.0.1"
DEFAULT_PORT = 5433
SUPERUSER = "postgres"


def find_bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: pg_config's bindir, else Debian's newest /usr/lib/postgresql/N/bin."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            found = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                        check=True).stdout.strip())
            if (found / "initdb").is_file():
                return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return versions[-1].parent if versions else None


def _as_server_user(command: list[str]) -> list[str]:
    """Run as `postgres` when we are root (PostgreSQL refuses root), else as ourselves."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class PostgresServer:
    """A running server; url() and jdbc_url() name one of its databases."""
    host: str
    port: int
    data_dir: Path
    bin_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def jdbc_url(self, database: str) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """CREATE DATABASE name (if it does not exist); its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def answers(self) -> bool:
        return listening(self.host, self.port)

    def stop(self, timeout: float = 30) -> None:
        subprocess.run(_as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "stop", "-m", "fast",
                                        "-w", "-t", str(int(timeout))]),
                       capture_output=True, timeout=timeout + 10)


def start_postgres(state_dir: Path, port: int | None = None, timeout: float = 60) -> PostgresServer:
    """initdb (once) in state_dir/data and start the server on 127.0.0.1:port (a free one by default)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SparkSetupError("PostgreSQL is not installed (no initdb found); on Debian or Ubuntu: "
                              "apt-get install postgresql")
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(state_dir)
    data_dir = state_dir / "data"
    log = state_dir / "postgres.log"
    if not (data_dir / "PG_VERSION").is_file():
        result = subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER,
                                                 "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise SparkSetupError(f"initdb failed in {data_dir}: {(result.stderr or result.stdout).strip()[-300:]}")
    chosen = port or free_port()
    options = f"-p {chosen} -c listen_addresses={HOST} -k {state_dir} -c fsync=on"
    if not log.exists():
        log.touch()
    _give_to_server_user(log)
    result = subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", options,
                                             "-l", str(log), "-w", "-t", str(int(timeout)), "start"]),
                            capture_output=True, text=True, timeout=timeout + 10)
    server = PostgresServer(HOST, chosen, data_dir, bin_dir)
    if result.returncode != 0 or not server.answers():
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise SparkSetupError(f"PostgreSQL did not start on {HOST}:{chosen}: {' | '.join(tail) or result.stderr}; "
                              f"see {log}")
    (state_dir / "port").write_text(f"{chosen}\n")
    return server


def running_server(state_dir: Path) -> PostgresServer | None:
    """The server a previous `up` started in state_dir, if it still answers."""
    state_dir = Path(state_dir).resolve()
    bin_dir = find_bin_dir()
    port_file = state_dir / "port"
    if bin_dir is None or not port_file.is_file():
        return None
    server = PostgresServer(HOST, int(port_file.read_text().strip()), state_dir / "data", bin_dir)
    return server if server.answers() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A PostgreSQL server on loopback for the catalog and registry.")
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--state-dir", default=".postgres")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            server = running_server(Path(args.state_dir)) or start_postgres(Path(args.state_dir), args.port)
            for database in ("featurestore_registry", "featurestore_metastore"):
                server.create_database(database)
            print(f"PostgreSQL on {server.host}:{server.port} (cluster and log in {args.state_dir}/). Use it in "
                  f"feature_store.yaml:\n"
                  f"registry:\n  registry_type: sql\n  path: {server.url('featurestore_registry')}\n"
                  f"offline_store:\n  metastore_url: {server.jdbc_url('featurestore_metastore')}?user={SUPERUSER}")
        else:
            server = running_server(Path(args.state_dir))
            if server is None:
                print(f"No PostgreSQL server was running from {args.state_dir}.")
            else:
                server.stop()
                print("Stopped the PostgreSQL server.")
    except SparkSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
