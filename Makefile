# The two commands of the README:
#   make demo   -- train the course CNN on real Fashion-MNIST and report (EPOCHS=2 by default; EPOCHS=25 is the course)
#   make test   -- run the whole test suite (installs the test, keras and tune extras)
# Each sets up what it needs: a virtual environment in .venv, the package, and the Fashion-MNIST files.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EPOCHS ?= 2
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test venv data bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test,keras,tune]"
	touch $@ $(VENV)/.installed-base

# Debian's dataset-fashion-mnist package puts the four original IDX files in $(FASHION_DIR).
# Without root/apt, tinycnn.datasets.fashion_mnist downloads them into ~/.tinycnn/datasets on first use.
data:
	@if [ -f $(FASHION_DIR)/t10k-labels-idx1-ubyte.gz ]; then \
		echo "Fashion-MNIST: $(FASHION_DIR)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) \
		|| echo "could not install dataset-fashion-mnist; tinycnn will try to download the files"; \
	else \
		echo "Fashion-MNIST not in $(FASHION_DIR); tinycnn will download it on first use"; \
	fi

demo: $(VENV)/.installed-base data
	$(BIN)/python examples/fashion_mnist_cnn.py --epochs $(EPOCHS)

test: $(VENV)/.installed-test data
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-test data
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf $(VENV) build *.egg-info examples/output
