"""Test configuration: the compiler's cache goes to a per-session temporary
directory (never into $HOME) that every xdist worker shares, the tests
directory is importable so that the corpus modules (and the helper module they
import) can be found, and Numba optimises at level 1.

Why level 1: the suite compiles some 4,000 gradients, and LLVM's level 3 costs
most of their compile time (a rank-4 broadcast `Q + R` alone: 15 s at level 3,
0.4 s at level 1) without changing what a correct program computes.  The
end-to-end corpus also runs once at the users' level
(`test_end_to_end.test_the_corpus_at_the_users_optimisation_level`), and
`NUMBA_OPT=3 python -m pytest` runs the whole suite there."""
import os
import shutil
import sys
import tempfile

# before anything imports numba (it reads its settings once)
os.environ.setdefault("NUMBA_OPT", "1")

import pytest  # noqa: E402

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)

if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

_SESSION_CACHE = None


_SHARED = "AUTODIFF_COMPILER_TEST_CACHE"


def pytest_configure(config):
    # Runs before the test modules (and with them autodiff_compiler) are imported.  The controller makes
    # the directory; its xdist workers inherit it through the environment, so a gradient one worker has
    # compiled is loaded, not compiled again, by the other (the cache writes files whole: see backend.load).
    global _SESSION_CACHE
    worker = hasattr(config, "workerinput")
    if worker and os.environ.get(_SHARED):
        _SESSION_CACHE = os.environ[_SHARED]
    else:
        _SESSION_CACHE = tempfile.mkdtemp(prefix="autodiff_compiler_test_cache_")
        os.environ[_SHARED] = _SESSION_CACHE
    os.environ["AUTODIFF_COMPILER_CACHE"] = _SESSION_CACHE
    config._autodiff_owns_cache = not worker


def pytest_unconfigure(config):
    if _SESSION_CACHE is not None and getattr(config, "_autodiff_owns_cache", False):
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
