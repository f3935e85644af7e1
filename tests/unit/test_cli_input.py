"""The `featurestore` command line itself, without Spark: argument parsing, refused
combinations, --version, exit codes and strict JSON output."""
import json
import math
import subprocess
import sys

import pytest

from featurestore import errors
from featurestore.cli import CommandLineError, build_parser, json_safe, main
from featurestore.cli.common import dumps
from featurestore.cli.job_commands import parse_entity_row, typed_entity_rows, view_names
from featurestore.cli.timeparse import parse_time


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, repo", [
    (["plan"], "."),
    (["--repo", "a", "plan"], "a"),
    (["plan", "--repo", "b"], "b"),
    (["-r", "a", "plan", "-r", "b"], "b"),
    (["registry", "dump", "--repo", "c"], "c"),
    (["feature-views", "list", "--repo", "d"], "d"),
    (["training-set", "rebuild", "t", "--repo", "e"], "e"),
    (["materialize-incremental", "now", "--repo", "f"], "f"),
])
def test_repo_is_accepted_before_and_after_the_command(argv, repo):
    assert build_parser().parse_args(argv).repo == repo


def test_views_option_does_not_swallow_the_end_time():
    args = build_parser().parse_args(["materialize-incremental", "-v", "driver_stats", "now"])
    assert args.end == "now" and view_names(args.views) == ["driver_stats"]
    args = build_parser().parse_args(["materialize", "-v", "a,b", "2026-01-01", "--views", "c", "-v", "a", "now"])
    assert (args.start, args.end) == ("2026-01-01", "now")
    assert view_names(args.views) == ["a", "b", "c"]
    assert view_names(None) is None


def test_an_empty_view_name_is_refused():
    with pytest.raises(CommandLineError, match=r"--views 'a,,b' has an empty view name"):
        view_names(["a,,b"])


def test_version_option_and_command(capsys):
    import featurestore

    expected = f"featurestore {featurestore.__version__}\n"
    assert run(capsys, "--version") == (0, expected, "")
    assert run(capsys, "version") == (0, expected, "")


def test_a_key_repeated_in_one_entity_row_is_refused(capsys, tmp_path):
    # refused before the store is opened: the repo does not even exist
    code, out, err = run(capsys, "--repo", str(tmp_path / "nowhere"), "get-online-features", "-f", "v:f",
                         "-e", "driver_id=1001,driver_id=1002")
    assert code == 1 and out == ""
    assert err == ("Error: --entity 'driver_id=1001,driver_id=1002' gives join key 'driver_id' twice; one entity "
                   "row takes one value per key: repeat -e for more rows, e.g. -e driver_id=1001 -e driver_id=1002\n")


def test_entity_rows_take_the_declared_types():
    """`007` for a String key is the string '007' (it was the int 7, refused as "not a string"),
    `1e3` for a Float64 field the number 1000.0; undeclared columns read unquoted integers as ints."""
    from featurestore.types import Bool, Float64, Int64, String

    rows = [parse_entity_row("driver_id=1001,code=007,score=1e3,vip=True,city='7',name=ann,n=12")]
    types = {"driver_id": Int64, "code": String, "score": Float64, "vip": Bool}
    assert typed_entity_rows(rows, types) == [{"driver_id": 1001, "code": "007", "score": 1000.0, "vip": True,
                                               "city": "7", "name": "ann", "n": 12}]
    with pytest.raises(CommandLineError, match=r"^--entity driver_id=x7: driver_id is declared Int64, so its value "
                                               r"must be an Int64$"):
        typed_entity_rows([parse_entity_row("driver_id=x7")], types)
    with pytest.raises(CommandLineError, match=r"vip is declared Bool, so its value must be true or false$"):
        typed_entity_rows([parse_entity_row("vip=yes")], types)
    with pytest.raises(CommandLineError, match=r"--entity '=5' has no join key before '='"):
        parse_entity_row("=5")
    with pytest.raises(CommandLineError, match=r"--entity 'driver_id' must look like join_key=value"):
        parse_entity_row("driver_id")


def test_features_and_feature_service_together_are_refused(capsys, tmp_path):
    code, _out, err = run(capsys, "--repo", str(tmp_path), "get-online-features", "--feature-service", "ranking",
                         "-f", "driver_stats:conv_rate", "-e", "driver_id=1")
    assert code == 1 and err == ("Error: give either --features or --feature-service, not both: --feature-service "
                                 "'ranking' already chooses the features\n")
    code, _out, err = run(capsys, "--repo", str(tmp_path), "get-online-features", "-e", "driver_id=1")
    assert code == 1 and err == "Error: give --features view:feature,... or --feature-service NAME\n"


def test_unreadable_times_are_command_line_errors(capsys, tmp_path):
    code, _out, err = run(capsys, "--repo", str(tmp_path), "materialize", "yesterday", "now")
    assert code == 1 and err.startswith("Error: START 'yesterday' is not a time: use ISO-8601")
    with pytest.raises(CommandLineError) as raised:
        parse_time("soon", "END")
    assert isinstance(raised.value, errors.FeatureStoreError) and isinstance(raised.value, ValueError)
    assert parse_time("2026-01-31T12:00:00+02:00", "END").isoformat() == "2026-01-31T10:00:00+00:00"


def test_describe_without_a_name_and_list_with_one_are_refused(capsys, tmp_path):
    code, _, err = run(capsys, "--repo", str(tmp_path), "entities", "describe")
    assert code == 1 and err == ("Error: `featurestore entities describe` needs a NAME, e.g. `featurestore entities "
                                 "list` shows them\n")
    code, _, err = run(capsys, "--repo", str(tmp_path), "entities", "list", "driver")
    assert code == 1 and err == ("Error: `featurestore entities list` takes no NAME (got 'driver'); use "
                                 "`featurestore entities describe driver`\n")


def test_unexpected_errors_exit_1_with_one_line(capsys, tmp_path):
    (tmp_path / "afile").write_text("")
    code, _out, err = run(capsys, "init", str(tmp_path / "afile" / "repo"), "--no-data")
    assert code == 1, err
    assert err.startswith("Error: unexpected NotADirectoryError: ") and len(err.splitlines()) == 1
    assert err.endswith("(set FEATURESTORE_DEBUG=1 for the whole error and its traceback)\n")
    assert not (tmp_path / "afile").is_dir()


def test_an_unexpected_error_prints_its_first_line_only():
    """Spark's errors carry the logical plan (10 KB with a profile's JSON in it) and the JVM's stack."""
    from featurestore.cli import first_line

    error = RuntimeError("[DELTA_TABLE_NOT_FOUND] Delta table `featurestore_profiles` doesn't exist.;\n'Project [*]\n"
                         + "+- 'UnresolvedRelation\n" * 500)
    assert first_line(error) == "[DELTA_TABLE_NOT_FOUND] Delta table `featurestore_profiles` doesn't exist."
    assert first_line(RuntimeError("x" * 1000)) == "x" * 400 + " ..."


def test_a_closed_pipe_is_quiet(tmp_path):
    """`featurestore ... | head -1`: no 'Error: unexpected BrokenPipeError', no complaint at exit."""
    import subprocess
    import sys

    reader = ("import featurestore\nfeaturestore.__version__ = '0.1\\n' * 200000\n"  # 'version' prints 400 KB
              "import sys\nfrom featurestore import cli\nsys.argv = ['featurestore', 'version']\ncli.run()\n")
    result = subprocess.run(f"{sys.executable} -c \"$READER\" | head -1", shell=True, capture_output=True,
                            text=True, env={"READER": reader, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.stdout == "featurestore 0.1\n" and result.stderr == ""


def test_a_busy_port_names_the_fix():
    import socket

    from featurestore.errors import ConfigError
    from featurestore.serving.server import listen

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"^cannot listen on 127.0.0.1:{port}: the port is already in use by "
                                              rf"another process; pass another --port \(0 picks a free one\)"):
            listen("127.0.0.1", port)


def test_usage_errors_keep_argparse_exit_2(capsys):
    code, _out, err = run(capsys, "materialize", "2026-01-01")
    assert code == 2 and "error: the following arguments are required: end" in err
    code, _out, err = run(capsys, "no-such-command")
    assert code == 2 and "invalid choice: 'no-such-command'" in err


def test_console_module_runs_as_python_m():
    result = subprocess.run([sys.executable, "-m", "featurestore.cli", "version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("featurestore ")
    assert not [line for line in result.stderr.splitlines() if line], result.stderr


def test_json_safe_replaces_non_finite_floats_as_protobuf_json_does():
    import numpy as np

    values = {"conv_rate": [0.5, float("nan"), float("inf"), float("-inf"), None, np.float32("nan"), 3],
              "nested": ({"x": np.float64("-inf")},)}
    assert json_safe(values) == {"conv_rate": [0.5, "NaN", "Infinity", "-Infinity", None, "NaN", 3],
                                 "nested": [{"x": "-Infinity"}]}
    text = dumps({"values": values, "statuses": {"conv_rate": ["PRESENT"]}})
    parsed = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    assert parsed["values"]["conv_rate"] == [0.5, "NaN", "Infinity", "-Infinity", None, "NaN", 3]
    assert not math.isnan(parsed["values"]["conv_rate"][0])


def test_command_line_error_is_a_featurestore_error():
    assert issubclass(CommandLineError, errors.FeatureStoreError) and issubclass(CommandLineError, ValueError)
    assert not issubclass(CommandLineError, errors.DefinitionError)


@pytest.mark.parametrize("argv, message", [
    (["registry", "history", "--limit", "-1"], "argument --limit: -1 is out of range: give at least 1"),
    (["registry", "show", "--version", "99999999999999999999"], "argument --version: 99999999999999999999 is out of "
                                                                "range: give at least 1"),
    (["plan", "--against", "x"], "argument --against: 'x' is not a whole number"),
    (["serve", "--port", "70000"], "argument --port/-p: 70000 is out of range: give at least 0 and at most 65,535"),
    (["profile", "t", "--version", "-3"], "argument --version: -3 is out of range: give at least 0"),
])
def test_numbers_out_of_range_are_usage_errors(capsys, argv, message):
    code, _out, err = run(capsys, *argv)
    assert code == 2 and message in err, err
