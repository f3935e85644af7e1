"""The README's Quickstart runs as written: its shell commands (through the CLI's main, in
this process) and then its Python block, from inside the new repo as the Quickstart's
`cd` leaves the reader."""
import re
import shlex
from pathlib import Path

import pytest

from featurestore.cli import main

pytestmark = pytest.mark.spark
README = Path(__file__).resolve().parent.parent.parent / "README.md"


def quickstart_blocks() -> tuple[list[str], str, str]:
    """The Quickstart's shell commands, its Python block and its own-tables block."""
    text = README.read_text()
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    shell, python, own_tables = re.findall(r"```(\w*)\n(.*?)```", quickstart, flags=re.S)[:3]
    assert shell[0] == "" and python[0] == own_tables[0] == "python"
    commands = [line.split("#", 1)[0].strip() for line in shell[1].splitlines()]
    return [c for c in commands if c], python[1], own_tables[1]


def test_the_quickstart_runs_as_written(spark, tmp_path, monkeypatch, capsys):
    commands, python, own_tables = quickstart_blocks()
    monkeypatch.chdir(tmp_path)
    for command in commands:
        words = shlex.split(command)
        if words[0] == "cd":
            monkeypatch.chdir(Path.cwd() / words[1])
            continue
        assert words[0] == "featurestore", command
        assert main(words[1:]) == 0, (command, capsys.readouterr().err)
    out = capsys.readouterr().out
    assert '"conv_rate": [' in out and "Created feature repo" in out
    for _ in range(2):  # the snippet is re-runnable: save_as_table overwrites
        exec(compile(python, "README.md (Quickstart)", "exec"), {})
    assert "'conv_rate': [" in capsys.readouterr().out
    exec(compile(own_tables, "README.md (your own tables)", "exec"), {})
    from featurestore import FeatureStore

    rows = FeatureStore(repo_path=".").spark.table("ratings").collect()
    assert [tuple(r) for r in rows] == [(1001, 4.5, __import__("datetime").datetime(2026, 1, 1))]


def test_the_readmes_curl_lines_answer(spark, tmp_path, monkeypatch, capsys):
    """The README's `Serving over HTTP` commands, run against `featurestore serve` on the Quickstart's repo."""
    import json
    import subprocess

    from featurestore.serving.server import FeatureServer
    from featurestore.store import FeatureStore

    text = README.read_text().split("## Serving over HTTP", 1)[1]
    block = re.findall(r"```\n(.*?)```", text, flags=re.S)[0].replace("\\\n", " ")
    monkeypatch.chdir(tmp_path)
    for command in quickstart_blocks()[0]:
        words = shlex.split(command)
        if words[0] == "cd":
            monkeypatch.chdir(Path.cwd() / words[1])
        else:
            assert main(words[1:]) == 0, (command, capsys.readouterr().err)
    server = FeatureServer(FeatureStore(repo_path="."), port=0).start()
    try:
        for line in block.splitlines():
            for command in line.split(";"):
                words = shlex.split(command.replace("http://127.0.0.1:6566", server.url))
                answer = subprocess.run(["curl", "-w", "\n%{http_code}", *words[1:]], capture_output=True, text=True,
                                        timeout=30, check=True).stdout
                body, status = answer.rsplit("\n", 1)
                assert status == "200", (command, body)
                if "get-online-features" in command:
                    assert all(s == "PRESENT" for r in json.loads(body)["results"] for s in r["statuses"]), body
    finally:
        server.stop()
