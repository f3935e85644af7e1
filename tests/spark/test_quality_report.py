"""The profile and validate commands end to end on Delta tables: text, JSON and the HTML
report (one plot per feature, the right verdicts), exit codes, argparse wiring."""
import argparse
import base64
import json
import re
import uuid
from datetime import UTC

import pytest

from featurestore.cli.quality_commands import add_commands, parse_reference, parse_thresholds, profile_command, validate_command
from featurestore.errors import NotFoundError, ValidationError
from featurestore.quality.drift import Thresholds

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def drifted(spark):
    """Version 0: x uniform on 0..99, n = i % 10, s cycles a, b, c. Version 1: x moved up by 50,
    n unchanged, s null in 2% of rows. Version 0's profile is stored."""
    from featurestore.quality.profile import store_profile

    table = f"qr_{uuid.uuid4().hex[:8]}"
    first = [(float(i % 100), i % 10, "abc"[i % 3]) for i in range(1000)]
    second = [(float(i % 100 + 50), i % 10, None if i % 50 == 0 else "abc"[i % 3]) for i in range(1000)]
    schema = "x double, n bigint, s string"
    spark.createDataFrame(first, schema).write.format("delta").saveAsTable(table)
    store_profile(spark, table)
    spark.createDataFrame(second, schema).write.format("delta").mode("overwrite").saveAsTable(table)
    return f"default.{table}"


def test_validate_text_json_and_html(spark, drifted, tmp_path):
    lines = []
    report = tmp_path / "report.html"
    code = validate_command(spark, drifted, "0", html=str(report), out=lines.append)
    assert code == 1
    text = lines[0]
    assert text.splitlines()[-1] == f"FAIL: {drifted}@1 vs {drifted}@0: 1 failed, 1 warned, 1 passed"
    rows = {line.split()[0]: line.split()[2] for line in text.splitlines()[2:5]}
    assert rows == {"x": "FAIL", "n": "PASS", "s": "WARN"}
    assert lines[1] == f"HTML report: {report}"

    lines.clear()
    assert validate_command(spark, drifted, "0", output_format="json", out=lines.append) == 1
    payload = json.loads(lines[0])
    assert (payload["status"], payload["reference"], payload["current"]) == ("fail", f"{drifted}@0", f"{drifted}@1")
    verdicts = {v["feature"]: v for v in payload["features"]}
    assert {name: v["status"] for name, v in verdicts.items()} == {"x": "fail", "n": "pass", "s": "warn"}
    assert verdicts["n"]["psi"] == 0.0 and verdicts["n"]["mean_shift"] == 0.0
    # x: half of the values moved above the reference range, into its open-ended last bin
    sample_sd = (833.25 * 1000 / 999) ** 0.5  # 0..99 ten times: population variance 833.25
    assert verdicts["x"]["psi"] > 2 and verdicts["x"]["mean_shift"] == pytest.approx(50 / sample_sd)
    assert verdicts["s"]["null_fraction_change"] == pytest.approx(0.02)
    assert verdicts["s"]["reasons"] == ["null fraction change 0.02 >= 0.01 (warn)"]
    assert not any(v["approximate"] for v in verdicts.values())  # binned on the reference's edges

    page = report.read_text()
    sections = re.findall(r"<section class='feature' id='[^']*' data-feature='(\w+)' data-status='(\w+)'>(.*?)"
                          r"</section>", page, re.S)
    assert [(name, status) for name, status, _ in sections] == [("x", "fail"), ("n", "pass"), ("s", "warn")]
    for _, _, body in sections:  # one embedded PNG per feature, nothing fetched from elsewhere
        images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", body)
        assert len(images) == 1 and base64.b64decode(images[0]).startswith(b"\x89PNG\r\n\x1a\n")
    assert page.count("<img") == 3 and "http" not in page


def test_validate_passes_against_itself_and_thresholds_apply(spark, drifted):
    lines = []
    assert validate_command(spark, drifted, f"{drifted}@0", version=0, out=lines.append) == 0
    assert lines[0].splitlines()[-1] == f"PASS: {drifted}@0 vs {drifted}@0: 0 failed, 0 warned, 3 passed"
    loose = Thresholds(psi_warn=100, psi_fail=100, mean_shift_warn=100, mean_shift_fail=100,
                       quantile_shift_warn=100, quantile_shift_fail=100, null_fraction_warn=0.05)
    assert validate_command(spark, drifted, "0", thresholds=loose, out=lines.append) == 0


def test_reference_without_profile_is_one_line(spark, drifted):
    other = f"qr_none_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame([(1.0,)], "x double").write.format("delta").saveAsTable(other)
    with pytest.raises(NotFoundError) as error:
        validate_command(spark, drifted, other, out=print)
    assert str(error.value) == f"table default.{other} has no stored profile; run `featurestore profile " \
                               f"default.{other}` first"
    with pytest.raises(NotFoundError, match=r"no stored profile of version 1 \(stored: 0\)"):
        validate_command(spark, drifted, "1", out=print)


def test_profile_command_prints_and_stores(spark, drifted):
    from featurestore.quality.profile import stored_versions

    lines = []
    assert profile_command(spark, drifted, columns=["n"], out=lines.append) == 0
    assert lines[0].splitlines()[0].startswith(f"Profile of {drifted}@1: 1,000 rows")
    assert lines[0].splitlines()[3].split()[:5] == ["n", "numeric", "1000", "0", "0"]
    assert stored_versions(spark, drifted) == [0, 1]
    lines.clear()
    assert profile_command(spark, drifted, version=0, store=False, output_format="json", out=lines.append) == 0
    assert json.loads(lines[0])["columns"]["s"]["top_values"] == [["a", 334], ["b", 333], ["c", 333]]
    with pytest.raises(ValidationError, match="give either TABLE or --view"):
        profile_command(spark, None)
    with pytest.raises(ValidationError, match="--format 'yaml' is not one of text, json"):
        profile_command(spark, drifted, output_format="yaml")


def test_parse_reference_and_thresholds():
    assert parse_reference("db.t", "3") == ("db.t", 3)
    assert parse_reference("db.t", "db.other") == ("db.other", None)
    assert parse_reference("db.t", "other@2") == ("other", 2)
    with pytest.raises(ValidationError, match="--reference 'a b' must be a version"):
        parse_reference("db.t", "a b")
    assert parse_thresholds(["psi_fail=0.3"], {"psi_warn": 0.2}) == Thresholds(psi_warn=0.2, psi_fail=0.3)
    with pytest.raises(ValidationError, match="--threshold 'psi_fail' must look like name=number"):
        parse_thresholds(["psi_fail"])


def test_add_commands_wires_argparse(spark, drifted, repo_factory, capsys):
    repo = repo_factory("")
    parser = argparse.ArgumentParser(prog="featurestore")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["validate", drifted, "--reference", "0", "--format", "json",
                              "--threshold", "psi_fail=1000", "--threshold", "psi_warn=1000",
                              "--threshold", "mean_shift_fail=1000", "--threshold", "quantile_shift_fail=1000"])
    args.repo = str(repo)
    assert args.run(args) == 0  # x only warns now (mean and quantile shift), s warns: exit 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["status"], payload["thresholds"]["psi_fail"]) == ("warn", 1000.0)
    args = parser.parse_args(["profile", drifted, "--columns", "x", "--no-store"])
    args.repo = str(repo)
    assert args.run(args) == 0
    assert capsys.readouterr().out.splitlines()[3].split()[:2] == ["x", "numeric"]


def test_profile_command_for_a_view(spark):
    from datetime import datetime, timedelta

    from featurestore import Entity, FeatureView, Field, SparkSource
    from featurestore.types import Float64, Int64

    table = f"qr_view_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame([(1, datetime(2026, 1, 1, 6), 0.25), (2, datetime(2026, 1, 3), 0.75)],
                          "driver_id bigint, event_ts timestamp, rate double").write.format("delta").saveAsTable(table)
    view = FeatureView(name="stats", entities=[Entity(name="driver", join_keys=["driver_id"])], ttl=timedelta(days=1),
                       source=SparkSource(name="src", table=table, timestamp_field="event_ts"),
                       schema=[Field(name="driver_id", dtype=Int64), Field(name="rate", dtype=Float64)])
    lines = []
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    assert profile_command(spark, view=view, start=start, end=end, out=lines.append) == 0
    assert lines[0].splitlines()[0].startswith("Profile of view stats [2026-01-01T00:00:00+00:00, "
                                               "2026-01-02T00:00:00+00:00): 1 row (computed")
    assert lines[0].splitlines()[3].split()[:8] == ["rate", "numeric", "1", "0", "0", "0.25", "0.25", "0.25"]
    with pytest.raises(ValidationError, match="--view stats needs --start and --end"):
        profile_command(spark, view=view, start=start)


def test_feature_store_yaml_thresholds_apply_and_the_command_line_overrides_them(spark, drifted, repo_factory,
                                                                                 capsys):
    repo = repo_factory("")
    with open(repo / "feature_store.yaml", "a") as config:
        config.write("quality:\n  thresholds:\n    psi_warn: 1000\n    psi_fail: 1000\n    mean_shift_fail: 1000\n"
                     "    quantile_shift_fail: 1000\n")
    parser = argparse.ArgumentParser(prog="featurestore")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["validate", drifted, "--reference", "0", "--format", "json"])
    args.repo = str(repo)
    assert args.run(args) == 0  # the file's loose thresholds: x only warns
    payload = json.loads(capsys.readouterr().out)
    assert (payload["status"], payload["thresholds"]["psi_fail"], payload["thresholds"]["psi_warn"]) == \
        ("warn", 1000.0, 1000.0)
    args = parser.parse_args(["validate", drifted, "--reference", "0", "--format", "json",
                              "--threshold", "psi_fail=0.25", "--threshold", "psi_warn=0.1"])
    args.repo = str(repo)
    assert args.run(args) == 1  # the command line wins, one threshold at a time
    payload = json.loads(capsys.readouterr().out)
    assert (payload["status"], payload["thresholds"]["psi_fail"], payload["thresholds"]["mean_shift_fail"]) == \
        ("fail", 0.25, 1000.0)


def test_feature_store_yaml_thresholds_are_checked_at_load(repo_factory):
    from featurestore.config import load_config
    from featurestore.errors import ConfigError

    repo = repo_factory(None)
    with open(repo / "feature_store.yaml", "a") as config:
        config.write("quality:\n  thresholds:\n    psi_fial: 0.3\n")
    with pytest.raises(ConfigError) as error:
        load_config(repo)
    line = (repo / "feature_store.yaml").read_text().splitlines().index("  thresholds:") + 1
    assert str(error.value) == (f"{repo / 'feature_store.yaml'}:{line}: quality.thresholds: unknown threshold "
                                f"'psi_fial'; known: psi_warn, psi_fail, null_fraction_warn, null_fraction_fail, "
                                f"mean_shift_warn, mean_shift_fail, quantile_shift_warn, quantile_shift_fail, "
                                f"row_count_drop_warn, row_count_drop_fail, epsilon. Did you mean 'psi_fail'?")


def test_an_empty_table_fails_validation_against_a_reference(spark):
    """Regression: `featurestore validate EMPTY --reference REF` printed "pass" and exited 0,
    every statistic null."""
    from featurestore.quality.profile import store_profile

    reference, empty = f"qr_ref_{uuid.uuid4().hex[:8]}", f"qr_empty_{uuid.uuid4().hex[:8]}"
    spark.createDataFrame([(float(i), f"id{i}") for i in range(50)], "x double, s string") \
        .write.format("delta").saveAsTable(reference)
    spark.createDataFrame([], "x double, s string").write.format("delta").saveAsTable(empty)
    store_profile(spark, reference)
    lines = []
    assert validate_command(spark, empty, reference, out=lines.append) == 1
    assert lines[0].splitlines()[-1].startswith(f"FAIL: default.{empty}@0 vs default.{reference}@0: 2 failed")
    assert "no rows (the reference has 50)" in lines[0]
