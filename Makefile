# The two commands of the README:
#   make demo   -- train the course CNN on real Fashion-MNIST and report (EPOCHS=2 by default; EPOCHS=25 is the course)
#   make test   -- run the whole test suite (installs the test, keras, tune and docs extras, and Chromium)
# and one for the textbook as a website:
#   make docs   -- build the site into site/ (installs the docs extra); open site/index.html
# Each sets up what it needs: a virtual environment in .venv, the package, and the Fashion-MNIST files.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EPOCHS ?= 2
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test venv data chromium docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test,keras,tune,docs]"
	touch $@ $(VENV)/.installed-base $(VENV)/.installed-docs

$(VENV)/.installed-docs: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[docs]"
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

# Debian's chromium, for the test that opens the built site in a headless browser (tests/test_docs.py).
# Without root/apt that test skips, except with CI=true, where it fails.
chromium:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then \
		echo "Chromium: $$(command -v chromium || command -v chromium-browser)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "could not install chromium; the browser test of the docs will not run"; \
	else \
		echo "Chromium not installed; the browser test of the docs will skip (apt-get install chromium)"; \
	fi

demo: $(VENV)/.installed-base data
	$(BIN)/python examples/fashion_mnist_cnn.py --epochs $(EPOCHS)

test: $(VENV)/.installed-test data chromium
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m pytest -q

# The textbook as a website, built strictly (a broken link or cross-reference fails it), offline.
docs: $(VENV)/.installed-docs
	$(BIN)/python -m mkdocs build --strict --site-dir site
	@echo "site built: open site/index.html (or: $(BIN)/python -m http.server -d site, for the search box)"

bench: $(VENV)/.installed-test data
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf $(VENV) build *.egg-info examples/output site
