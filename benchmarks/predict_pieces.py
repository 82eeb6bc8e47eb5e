"""How big a piece of an inference batch should be: ``predict`` throughput of the course CNN by batch size, with
``tinycnn.models.inference.INFERENCE_PIECE_BYTES`` set to each value in turn (and to "off": whole batches).

``predict`` cuts a batch into pieces whose widest activation fits in that many bytes (the module docstring of
:mod:`tinycnn.models.inference` says why). This sweep is the measurement behind the default. The settings take
turns round after round in one process (same weights, same images), so a drift of the machine's speed hits all
alike; each cell is the best of the rounds' images/s.

    python benchmarks/predict_pieces.py [--rounds 3] [--images 4096] [--batch-sizes 32 256 1024]
                                        [--pieces-mib 0.5 1 2 4 8 16]

Writes ``benchmarks/results/predict_pieces.json``.
"""

import argparse
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256, 1024])
    parser.add_argument("--pieces-mib", type=float, nargs="+", default=[0.5, 1, 2, 4, 8, 16])
    parser.add_argument("--out", default=os.path.join(HERE, "results", "predict_pieces.json"))
    args = parser.parse_args(argv)

    import fashion_mnist_cnn as course
    import numpy as np
    from bench_common import cpu_model

    from tinycnn.datasets import fashion_mnist
    from tinycnn.models import inference
    from tinycnn.utils import atomic_open

    (_, _), (tx, _) = fashion_mnist.load_data()
    reps = -(-args.images // len(tx))
    x = np.concatenate([tx] * reps)[: args.images].reshape(-1, 28, 28, 1).astype("float32") / 255.0
    model = course.build()
    default = inference.INFERENCE_PIECE_BYTES
    settings = {"off": 10**15, **{f"{m:g} MiB": int(m * 2**20) for m in args.pieces_mib}}
    model.predict(x[:512], batch_size=256, verbose=0)  # compile and warm
    best = {name: {} for name in settings}
    pieces = {}
    for _ in range(args.rounds):
        for name, value in settings.items():
            inference.INFERENCE_PIECE_BYTES = value
            pieces[name] = model._inference_piece()
            for bs in args.batch_sizes:
                start = time.perf_counter()
                model.predict(x, batch_size=bs, verbose=0)
                rate = len(x) / (time.perf_counter() - start)
                best[name][bs] = max(best[name].get(bs, 0.0), rate)
    inference.INFERENCE_PIECE_BYTES = default

    print(f"predict images/s, best of {args.rounds} rounds, {len(x)} images ({cpu_model()['model name']})")
    print(f"{'piece':<12}{'images':>8}" + "".join(f"{'batch ' + str(b):>12}" for b in args.batch_sizes))
    for name in settings:
        piece = "whole" if pieces[name] is None or name == "off" else pieces[name]
        print(f"{name:<12}{piece!s:>8}" + "".join(f"{best[name][b]:12.0f}" for b in args.batch_sizes))
    result = {
        "benchmark": "predict_pieces",
        "command": " ".join(["python", "benchmarks/predict_pieces.py"] + (argv if argv is not None else sys.argv[1:])),
        "machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "default_piece_bytes": default,
        "images": len(x),
        "rounds": args.rounds,
        "pieces_images": pieces,
        "best_images_per_s": {name: {str(b): v for b, v in row.items()} for name, row in best.items()},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with atomic_open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {os.path.relpath(args.out)}")
    return result


if __name__ == "__main__":
    main()
