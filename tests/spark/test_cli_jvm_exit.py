"""A CLI command's JVM has exited when the command returns, so the next command can start at once.

The embedded Derby metastore admits one process; a JVM that outlived its command by the
second it takes to shut down used to get `featurestore plan && featurestore apply`
refused ("held by pid ..."). Real commands in real processes, back to back.
"""
import pytest

from featurestore.config import load_config
from featurestore.runtime.metastore import embedded_database, lock_holder
from featurestore.runtime.session import session_conf
from tests.unit.test_init import cli

pytestmark = pytest.mark.slow


def test_commands_run_back_to_back_on_one_embedded_metastore(tmp_path):
    init = cli(tmp_path, "init", "repo")
    assert init.returncode == 0, init.stderr
    repo = tmp_path / "repo"
    lock = embedded_database(session_conf(load_config(repo))["spark.hadoop.javax.jdo.option.ConnectionURL"]) \
        / "dbex.lck"
    for command in ("plan", "apply", "plan"):
        result = cli(repo, command)
        assert result.returncode == 0, result.stderr
        assert not lock.is_file() or lock_holder(lock) is None  # the command's JVM is gone
    assert result.stdout == "No changes: the registry already matches the definitions.\n"
