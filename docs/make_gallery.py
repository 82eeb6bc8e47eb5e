"""Regenerate the figures of docs/gallery.md (and the layer pages) into docs/images/.

    python docs/make_gallery.py                                   # the concept examples (~30 s)
    python docs/make_gallery.py --course-out examples/output/fashion_mnist_cnn
                                                                  # + the course CNN's figures

The second form expects the output folder of ``examples/fashion_mnist_cnn.py`` (its weights file and its
``learning_curves.png``): it loads the trained weights into the course model and draws the filters, the
feature maps, the confusion matrix and the misclassified test images with :mod:`tinycnn.plot`.
"""

import argparse
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
CONCEPTS = ["conv1d_pattern_detection", "conv2d_edge_detection", "equivariance", "pooling", "receptive_field"]
MAX_BYTES = 200_000


def concept_figures():
    with tempfile.TemporaryDirectory() as tmp:
        for name in CONCEPTS:
            print(f"running examples/{name}.py")
            subprocess.run(
                [sys.executable, str(ROOT / "examples" / f"{name}.py"), "--out", tmp],
                check=True,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
            )
        for png in sorted(Path(tmp).glob("*.png")):
            shutil.copy(png, IMAGES / png.name)


def course_figures(course_out, n_test):
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from tinycnn import plot
    from tinycnn.datasets import fashion_mnist

    course = runpy.run_path(str(ROOT / "examples" / "fashion_mnist_cnn.py"))  # defines build(), not main
    model = course["build"](width=28, height=28, depth=1, classes=10)
    weights = sorted(Path(course_out).glob("*.npz"))
    if not weights:
        raise SystemExit(f"no weights (.npz) in {course_out}: run examples/fashion_mnist_cnn.py --out {course_out}")
    model.load_weights(weights[0])
    _, (x_test, y_test) = fashion_mnist.load_data()
    x = x_test[:n_test].reshape(-1, 28, 28, 1).astype("float32") / 255.0
    probs = model.predict(x, batch_size=256)
    names = fashion_mnist.CLASS_NAMES
    conv_layers = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    plot.plot_filters(conv_layers[0], path=IMAGES / "course_filters.png")
    plot.plot_feature_maps(model, x[0], path=IMAGES / "course_feature_maps.png", max_maps=8)
    plot.plot_confusion_matrix(y_test[:n_test], probs, class_names=names, path=IMAGES / "course_confusion_matrix.png")
    plot.plot_misclassified(
        x, y_test[:n_test], probs, class_names=names, path=IMAGES / "course_misclassified.png", max_images=20
    )
    plot.plot_receptive_field(model, (28, 28), path=IMAGES / "course_receptive_field.png")
    curves = Path(course_out) / "learning_curves.png"
    if curves.exists():
        shutil.copy(curves, IMAGES / "course_learning_curves.png")
    print(f"course model: accuracy {np.mean(probs.argmax(axis=1) == y_test[:n_test]):.3f} on {n_test} test images")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course-out", help="output folder of examples/fashion_mnist_cnn.py (weights, curves)")
    parser.add_argument("--test-images", type=int, default=2000, help="test images for the course figures")
    parser.add_argument("--skip-concepts", action="store_true", help="only the course figures")
    args = parser.parse_args(argv)
    IMAGES.mkdir(parents=True, exist_ok=True)
    if not args.skip_concepts:
        concept_figures()
    if args.course_out:
        course_figures(args.course_out, args.test_images)
    for png in sorted(IMAGES.glob("*.png")):
        size = png.stat().st_size
        print(f"{png.relative_to(ROOT)}  {size / 1000:.0f} kB{'  TOO BIG' if size > MAX_BYTES else ''}")


if __name__ == "__main__":
    main()
