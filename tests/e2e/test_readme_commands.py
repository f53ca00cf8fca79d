"""Every command the README shows parses with its script's flags, and what can be checked without
data or downloads is checked: train.py resolves its config (as --dry_run does), dataset_tool.py knows
the command and its arguments, every registered network name the README uses is registered. So the
README and the command lines cannot drift apart again."""
import json
import re
import shlex
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

README_FILES = [REPO_ROOT / "README.md", REPO_ROOT / "pretrained" / "README.md"]
# Lines of a ``` block that run one of our scripts: `python x.py ...`, `.venv/bin/python x.py ...`.
_COMMAND = re.compile(r"^(?:\S*python3?)\s+(?P<script>[a-z_]+\.py)(?P<args>(?:\s.*)?)$")


def readme_commands():
    """[(script, [arguments])] of every command line in the READMEs' code blocks."""
    commands = []
    for path in README_FILES:
        in_block = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block = not in_block
                continue
            if not in_block:
                continue
            for part in line.split("&&"):  # the quick start chains its commands
                part = re.split(r"\s+#", part.strip(), maxsplit=1)[0].strip()
                match = _COMMAND.match(part)
                if match and (REPO_ROOT / match.group("script")).is_file():
                    commands.append((match.group("script"), shlex.split(match.group("args"))))
    return commands


COMMANDS = readme_commands()
SCRIPTS = sorted({script for script, _ in COMMANDS})

# Runs in a subprocess per script (absl's flags are global to a process): defines the script's flags
# without running it, then parses and checks each command line.
_CHECKER = r"""
import json, os, runpy, sys
from absl import flags
script, commands = sys.argv[1], json.loads(sys.argv[2])
module = runpy.run_path(script, run_name="readme_check")
FLAGS = flags.FLAGS
from stylegan_tf import pretrained
for argv in commands:
    FLAGS.unparse_flags()
    report = {"argv": argv}
    try:
        if "--help" in argv:
            report["skipped"] = "help"
        else:
            rest = FLAGS([script] + argv)
            name = os.path.basename(script)
            if name == "train.py" and (FLAGS.config or FLAGS.resume is None):
                report["config"] = module["dry_run_view"](module["resolve_from_flags"]())["desc"]
            elif name == "dataset_tool.py":
                module["check_command"](rest[1], rest[2:])
            elif len(rest) > 1:
                raise ValueError(f"unexpected arguments {rest[1:]}")
            for flag in ("network", "resume"):
                value = FLAGS[flag].value if flag in FLAGS else None
                if value and not (pretrained.lookup(value) or "/" in value or value.endswith(".pkl")
                                  or value.isdigit()):
                    raise ValueError(f"--{flag}={value} is neither a registered network nor a path")
    except (Exception, SystemExit) as error:
        report["error"] = f"{type(error).__name__}: {error}"
    print("REPORT " + json.dumps(report), flush=True)
"""


def test_the_readme_shows_commands_of_every_script():
    assert len(COMMANDS) >= 30, COMMANDS
    assert {"train.py", "dataset_tool.py", "run_metrics.py", "generate.py", "projector.py", "export.py",
            "style_mixing.py", "generate_figures.py", "pretrained_example.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_readme_commands_parse_and_resolve(tmp_path, script):
    commands = [argv for name, argv in COMMANDS if name == script]
    result = subprocess.run([sys.executable, "-c", _CHECKER, str(REPO_ROOT / script), json.dumps(commands)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"})
    reports = [json.loads(line[len("REPORT "):]) for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert len(reports) == len(commands), result.stderr[-3000:]
    failures = [f"{script} {' '.join(report['argv'])}: {report['error']}" for report in reports if "error" in report]
    assert not failures, "\n".join(failures)


def test_readme_help_commands_run(tmp_path):
    for script, argv in COMMANDS:
        if "--help" in argv:
            result = subprocess.run([sys.executable, str(REPO_ROOT / script), *argv], cwd=tmp_path,
                                    capture_output=True, text=True, timeout=120)
            assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
            assert "create_from_images" in result.stdout


@pytest.mark.slow
def test_gpu_requirements_resolve_with_pip(tmp_path):
    """The README's GPU install (requirements-gpu.txt: TensorFlow with its CUDA libraries) resolves
    with pip against the registry, beside requirements.txt (a dry run: nothing is installed)."""
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                             "--report", str(report), "-r", str(REPO_ROOT / "requirements.txt"),
                             "-r", str(REPO_ROOT / "requirements-gpu.txt")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "tensorflow" in names and any(name.startswith("nvidia-cudnn") for name in names), sorted(names)
