"""Test configuration: the compiler's cache goes to a per-session temporary
directory (never into $HOME), each file's tests run in one worker process
(the largest files in a few groups: `SPLIT_FILES`), the tests
directory is importable so that the corpus modules (and the helper module they
import) can be found, and Numba optimises at level 0.

Why level 0: the suite compiles some 4,000 gradients, and LLVM's optimisation
is most of their compile time (a rank-4 broadcast `Q + R` alone: 15 s at level
3, 0.4 s at level 1; the whole suite took 31% less CPU at level 0 than at 1)
without changing what a correct program computes.  Numba caches at level 0
too (`backend.cache.CalledDispatcher`: the library's functions leave no
"dynamic global" in their callers; `test_library` checks it).  The end-to-end
corpus also runs once at the users' level
(`test_end_to_end.test_the_corpus_at_the_users_optimisation_level`), and
`NUMBA_OPT=3 python -m pytest` runs the whole suite there."""
import os
import shutil
import sys
import tempfile
import zlib

# before anything imports numba (it reads its settings once)
os.environ.setdefault("NUMBA_OPT", "0")

import pytest  # noqa: E402

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)

if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

_SESSION_CACHE = None


# The session's cache directory, as the process that made it hands it to its xdist workers (which
# inherit its environment): they share it, as a user's processes share theirs.  A worker that compiled a
# helper, a SymPy decision or a corpus function saves the others the work (the library alone is some
# seconds of each worker's compiles).
_SHARED = "AUTODIFF_COMPILER_TEST_SESSION_CACHE"


def pytest_configure(config):
    # Runs before the test modules (and with them autodiff_compiler) are imported.
    global _SESSION_CACHE
    shared = os.environ.get(_SHARED)
    if os.environ.get("PYTEST_XDIST_WORKER") and shared and os.environ.get("AUTODIFF_COMPILER_CACHE") == shared:
        return          # a worker of the session that made it (which removes it at its end)
    # a session of its own (also a pytest a test starts, with a cache of its own in its environment)
    _SESSION_CACHE = tempfile.mkdtemp(prefix="autodiff_compiler_test_cache_")
    os.environ["AUTODIFF_COMPILER_CACHE"] = os.environ[_SHARED] = _SESSION_CACHE


def pytest_unconfigure(config):
    if _SESSION_CACHE is not None:
        shutil.rmtree(_SESSION_CACHE, ignore_errors=True)


# Files whose tests are spread over several xdist groups (`--dist loadgroup` in pyproject.toml), by how
# long they take: each other file is one group, run in one worker process as with `--dist loadfile`.
# These two took 23 and 15 of the suite's 57 CPU minutes at level 3; as one group each they ran last,
# on one worker each, while the other waited.
SPLIT_FILES = {"test_soundness.py": 4, "test_language.py": 3}


def pytest_collection_modifyitems(config, items):
    for item in items:
        path, _, name = item.nodeid.partition("::")
        filename = os.path.basename(path)
        group = filename
        if filename in SPLIT_FILES:
            case = name.split("[", 1)[-1].split("-", 1)[0]       # every mode of one case in one group
            group += f"/{zlib.crc32(case.encode()) % SPLIT_FILES[filename]}"
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def session_cache_dir():
    return os.environ[_SHARED]


@pytest.fixture
def subprocess_env(tmp_path):
    """Environment for child processes: the repository importable, a fresh cache."""
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["AUTODIFF_COMPILER_CACHE"] = str(tmp_path / "cache")
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("NUMBA_DISABLE_JIT", None)
    return env
