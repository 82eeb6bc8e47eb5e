"""tinycnn in more than one process: nothing happens at import, and fork and multiprocessing pools work after
the parent has trained.

* ``import tinycnn`` starts no thread (``/proc/self/task`` counts every thread of the process, OpenMP's and
  BLAS's too), sets no environment variable and changes no Numba setting; the engine's threads start on the
  first compiled call (:mod:`tinycnn.kernels.threads`).
* After training in the parent: ``os.fork()`` then ``predict`` in the child; a ``multiprocessing`` pool
  started by ``fork`` and one started by ``spawn``, each predicting. On GNU OpenMP (tinycnn's layer before
  issue 17) the first was killed by Numba and the second hung.

Every scenario runs in a fresh interpreter, under a time limit, so a hang fails the test instead of the run.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and fork are Linux's")


def _run(script, tmp_path, timeout=300, **env):
    """Run ``script`` as a file (a spawn-start pool imports its ``__main__`` again) in a fresh interpreter."""
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    environ.update(env)
    environ["PYTHONPATH"] = str(REPO) + os.pathsep + environ.get("PYTHONPATH", "")
    path = tmp_path / "scenario.py"
    path.write_text(textwrap.dedent(script))
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=environ
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


_IMPORT_SCRIPT = """
        import os
        import numpy as np                     # NumPy's BLAS threads are NumPy's, started before we count
        import numba
        {preload}
        def threads():
            return len(os.listdir("/proc/self/task"))
        before, environ = threads(), dict(os.environ)
        config = (numba.config.THREADING_LAYER, list(numba.config.THREADING_LAYER_PRIORITY))
        import {module}
        import tinycnn.kernels.numba_kernels   # the whole engine, imported but not yet called
        from tinycnn.kernels import threads as engine_threads
        assert threads() == before, (before, threads())
        assert dict(os.environ) == environ
        assert (numba.config.THREADING_LAYER, list(numba.config.THREADING_LAYER_PRIORITY)) == config
        assert engine_threads.info()["chosen_by"] is None   # not started
        from tinycnn import kernels
        x = np.ones((2, 6, 6, 16), np.float32)
        kernels.conv2d_forward(x, np.ones((3, 3, 16, 16), np.float32), None, (1, 1), (1, 1, 1, 1), (1, 1))
        info = engine_threads.info()
        assert info["chosen_by"] == "tinycnn", info
        assert dict(os.environ) == environ
        print(before, threads(), info["layer"])
"""


def test_importing_tinycnn_apart_from_scipy_starts_no_thread_and_changes_nothing(tmp_path):
    """With SciPy's modules (and so SciPy's OpenBLAS thread) loaded first, ``import tinycnn`` and every kernel
    module start no thread, change no environment variable and no Numba setting; the engine's first call
    picks the threading layer and starts the threads."""
    preload = "import scipy.ndimage, scipy.sparse, scipy.special  # SciPy's OpenBLAS starts its thread here"
    out = _run(_IMPORT_SCRIPT.format(module="tinycnn", preload=preload), tmp_path)
    before, after, layer = out.split()
    assert int(after) >= int(before) and layer in ("tbb", "workqueue", "omp")


def test_import_tinycnn_starts_no_thread_and_changes_nothing(tmp_path):
    _run(_IMPORT_SCRIPT.format(module="tinycnn", preload=""), tmp_path)


def test_a_users_threading_layer_is_kept(tmp_path):
    out = _run(
        """
        import numpy as np, numba, tinycnn
        from tinycnn.kernels import threads
        x = np.ones((1, 4, 4, 16), np.float32)
        tinycnn.kernels.conv2d_forward(x, np.ones((3, 3, 16, 16), np.float32), None, (1, 1), (1, 1, 1, 1), (1, 1))
        print(numba.threading_layer(), threads.info()["chosen_by"].split()[0])
    """,
        tmp_path,
        NUMBA_THREADING_LAYER="workqueue",
    )
    assert out.split() == ["workqueue", "user"]


_TRAIN_THEN = """
    import multiprocessing, os, sys, time
    import numpy as np
    sys.path.insert(0, "examples")
    import fashion_mnist_cnn as course
    from tinycnn.optimizers import SGD

    def model_and_data():
        model = course.build()
        model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.01, momentum=0.9))
        rng = np.random.default_rng(0)
        x = rng.random((16, 28, 28, 1), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 16)]
        return model, x, y

    def predict_fresh(seed):
        model, x, _ = model_and_data()
        return float(model.predict(x[:4], verbose=0).sum())

    if __name__ == "__main__":
        model, x, y = model_and_data()
        for _ in range(3):
            model.train_on_batch(x, y)     # the parent has trained: the engine's threads run
        expected = model.predict(x[:8], verbose=0)
"""


def test_fork_after_training_then_predict_in_the_child(tmp_path):
    _run(
        _TRAIN_THEN
        + """
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                got = model.predict(x[:8], verbose=0)
                os.write(write, b"same" if np.allclose(got, expected, rtol=1e-5, atol=1e-6) else b"differ")
            finally:
                os._exit(0)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            raise SystemExit("the forked child hung")
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
        assert os.read(read, 16) == b"same"
        model.train_on_batch(x, y)         # and the parent goes on training
    """,
        tmp_path,
    )


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_after_training(method, tmp_path):
    _run(
        _TRAIN_THEN
        + f"""
        with multiprocessing.get_context("{method}").Pool(2) as pool:
            sums = pool.map_async(predict_fresh, [0, 1]).get(timeout=240)
        assert len(sums) == 2 and all(np.isfinite(sums))
        model.train_on_batch(x, y)
    """,
        tmp_path,
        timeout=400,
    )
