"""Test configuration: the compiler's cache goes to a per-session temporary
directory (never into $HOME), and the tests directory is importable so that the
corpus modules (and the helper module they import) can be found."""
import os
import shutil
import sys
import tempfile

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)

if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

_SESSION_CACHE = None


def pytest_configure(config):
    # Runs before the test modules (and with them autodiff_compiler) are imported.
    global _SESSION_CACHE
    _SESSION_CACHE = tempfile.mkdtemp(prefix="autodiff_compiler_test_cache_")
    os.environ["AUTODIFF_COMPILER_CACHE"] = _SESSION_CACHE


def pytest_unconfigure(config):
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def session_cache_dir():
    return _SESSION_CACHE


@pytest.fixture
def subprocess_env(tmp_path):
    """Environment for child processes: the repository importable, a fresh cache."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["AUTODIFF_COMPILER_CACHE"] = str(tmp_path / "cache")
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("NUMBA_DISABLE_JIT", None)
    return env
