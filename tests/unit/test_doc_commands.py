"""Every command the README and docs/ show is one the tools accept as written.

Each line of a shell block (README.md, docs/*.md) is checked by what it calls:
`featurestore ...` by the CLI's own parser, `python examples/X.py ...` by the example's
parser, `make TARGET VAR=...` by `make -n`. The commands are run for real elsewhere (the
Quickstart and the README's curl lines in tests/spark/test_readme.py, the walkthrough in
tests/spark/test_walkthrough.py); this test catches the flag that no longer exists, which
a reader meets as exit status 2 (docs/serving.md's `-e` for the client did).

Placeholders readers fill in are replaced first (TABLE, REPO, VIEW, `[--optional ...]`);
lines that are output, not commands (plan's diff, layout trees) are not in shell blocks'
command position and are skipped by their first word.
"""
import argparse
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from featurestore.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PLACEHOLDERS = {"TABLE": "t", "OTHER_TABLE@VERSION": "t@1", "VERSION|OTHER_TABLE|OTHER_TABLE@VERSION": "1",
                "REPO": "driver_repo", "VIEW": "v", "T": "2026-01-01", "N": "1", "postgresql://...": "postgresql://h/db"}
RUN_ELSEWHERE = {"curl", "export", "cd", "spark-submit"}  # executed by the tests named in the docstring


def commands() -> list[tuple[str, str]]:
    """(where, command) for each command line of the shell blocks."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for match in re.finditer(r"```(\w*)\n(.*?)```", text, flags=re.S):
            if match.group(1) not in ("", "sh", "bash", "shell"):
                continue
            first_line = text[:match.start()].count("\n") + 2
            joined = match.group(2).replace("\\\n", " ")
            for offset, line in enumerate(joined.splitlines()):
                for part in re.split(r";|&&", re.split(r"\s#(?:\s|$)", line, maxsplit=1)[0]):
                    part = part.strip()
                    if part and part.split()[0] in ("featurestore", "python", "make", *RUN_ELSEWHERE):
                        found.append((f"{doc.relative_to(ROOT)}:{first_line + offset}", part))
    return found


def filled(command: str) -> list[str]:
    command = re.sub(r"\s*\[[^\]]*\]", "", command)  # optional parts: [--limit N]
    words = shlex.split(command)
    return [PLACEHOLDERS.get(word, word) for word in words]


class _Parsed(Exception):
    pass


def test_the_docs_have_commands():
    assert len(commands()) > 25


@pytest.mark.parametrize("where, command", commands(), ids=lambda value: value if ":" in value else None)
def test_each_command_is_accepted_as_written(where, command, monkeypatch):
    words = filled(command)
    if words[0] in RUN_ELSEWHERE:
        return
    if words[0] == "featurestore":
        try:
            build_parser().parse_args(words[1:])
        except SystemExit as exit_:
            pytest.fail(f"{where}: `{command}` is refused by featurestore's parser (exit {exit_.code})")
    elif words[0] == "python":
        script = ROOT / words[1]
        assert script.is_file(), f"{where}: {words[1]} does not exist"
        parse = argparse.ArgumentParser.parse_args

        def parse_then_stop(parser, args=None, namespace=None):
            parse(parser, args, namespace)
            raise _Parsed

        monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
        monkeypatch.setattr(sys, "argv", [str(script), *words[2:]])
        with pytest.raises(_Parsed):
            try:
                runpy.run_path(str(script), run_name="__main__")
            except SystemExit as exit_:
                pytest.fail(f"{where}: `{command}` is refused by {words[1]}'s parser (exit {exit_.code})")
    else:
        result = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{where}: `{command}`: {result.stderr.strip()}"
