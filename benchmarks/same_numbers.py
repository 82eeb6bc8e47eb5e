"""Does this checkout train the course CNN to the same numbers as another checkout? (A refactoring check.)

    git worktree add /tmp/base <commit>
    python benchmarks/same_numbers.py --baseline /tmp/base [--images 640] [--epochs 2]

Each checkout, in its own process, trains the course model (``examples/fashion_mnist_cnn.py``'s ``build()``,
SGD(0.01, momentum 0.9, decay 0.01/25), batch 32, seed 42) on the first ``--images`` Fashion-MNIST images,
validating on 200 test images; then the two histories and the largest difference of any weight are printed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def worker(source, images, epochs, out):
    sys.path.insert(0, source)
    sys.path.insert(0, os.path.join(source, "examples"))
    import numpy as np
    from fashion_mnist_cnn import build, load

    from tinycnn.optimizers import SGD
    from tinycnn.utils import set_random_seed

    set_random_seed(42)
    (x, y, _), (tx, ty, _) = load(limit=images, test_limit=200)
    model = build()
    model.compile(
        loss="categorical_crossentropy", optimizer=SGD(lr=0.01, momentum=0.9, decay=0.01 / 25), metrics=["accuracy"]
    )
    history = model.fit(x, y, validation_data=(tx, ty), batch_size=32, epochs=epochs, verbose=0)
    np.savez(out, *model.get_weights())
    print(json.dumps({k: [float(v) for v in vs] for k, vs in history.history.items()}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--images", type=int, default=640)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], args.images, args.epochs, args.worker[1])
    import numpy as np

    tmp = tempfile.mkdtemp(prefix="tinycnn-same-")
    runs = {}
    for name, source in (("this checkout", ROOT), ("baseline", os.path.abspath(args.baseline))):
        path = os.path.join(tmp, f"{len(runs)}.npz")
        out = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--baseline",
                args.baseline,
                "--images",
                str(args.images),
                "--epochs",
                str(args.epochs),
                "--worker",
                source,
                path,
            ],
            capture_output=True,
            text=True,
            cwd=HERE,
        )
        if out.returncode:
            raise RuntimeError(out.stderr[-2000:])
        runs[name] = (json.loads(out.stdout.strip().splitlines()[-1]), path)
        print(f"{name:<14} {runs[name][0]}")
    a, b = (np.load(runs[k][1]) for k in runs)
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in a.files)
    print(f"{len(a.files)} weight arrays; largest difference between the two checkouts: {diff:g}")


if __name__ == "__main__":
    main()
