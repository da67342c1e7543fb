# The two commands of the README: `make serve` and `make test`.
# torch is pinned here and only here; it is installed before the project so that pip
# takes the CPU build on disk instead of resolving a CUDA build from the registry.
TORCH_VERSION := 2.13.0
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Extras of the project to install: the test tools by default; `make venv EXTRAS=` for none.
EXTRAS ?= dev
HOST ?= 127.0.0.1

.PHONY: venv browser serve test lint bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -e '.$(if $(EXTRAS),[$(EXTRAS)])'
	touch $@

serve: venv
	$(BIN)/adamlab serve --host $(HOST) --port $(PORT)

# The browser tests drive Debian's chromium (Playwright cannot download its own browsers
# here); installed when missing and apt-get may. Without it those tests skip, or fail
# under CI=true.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; } \
		|| echo "chromium could not be installed: the browser tests skip (and fail under CI=true)"

test: venv browser
	$(BIN)/ruff check .
	$(BIN)/pyright
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pyright

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
