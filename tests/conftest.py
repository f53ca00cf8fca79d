"""Shared test configuration: locations of the shared fixtures and CPU-friendly TF settings."""
import os
import pathlib
import subprocess
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DIR = pathlib.Path(os.environ.get("STYLEGAN_SHARED", REPO_ROOT.parent / "shared"))
FIXTURES_DIR = SHARED_DIR / "fixtures"
FACES_DIR = SHARED_DIR / "data" / "frl_faces_256"
REPO_FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"  # the fixtures this repository made (small)


def shared_fixture(path):
    """`path` (a file or folder of ../shared); a missing one fails the run, it never skips tests."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"missing shared fixture {path}: is ../shared next to the checkout "
                                "(or $STYLEGAN_SHARED set)?")
    return path


def fixture_dirs(default_subdir, env_var=None, root=FIXTURES_DIR):
    """Every fixture directory under <root>/<default_subdir> (root: shared/fixtures) plus those in $env_var."""
    dirs = []
    base = root / default_subdir
    if base.is_dir():
        dirs += sorted(p for p in base.iterdir() if p.is_dir())
    for entry in (os.environ.get(env_var, "") if env_var else "").split(","):
        if entry.strip():
            dirs.append(pathlib.Path(entry.strip()))
    return dirs




def run_script(script, args, cwd, timeout=600):
    """Runs one of the repository's command-line scripts; returns the CompletedProcess."""
    return subprocess.run([sys.executable, str(REPO_ROOT / script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def xla_compiled_calls(graph):
    """How many calls in a traced graph XLA must compile (nested jit_compile functions)."""
    count = 0
    for op in graph.get_operations():
        try:
            count += bool(op.get_attr("_XlaMustCompile"))
        except ValueError:
            pass
    return count
