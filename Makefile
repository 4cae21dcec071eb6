# InfoSynth — two commands:
#   make run    set everything up, then start the dashboard on http://127.0.0.1:8501
#   make test   set everything up (plus dev tools and Chromium), then run the tests
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8501
PYTEST_ARGS ?=

# Stamps are keyed on the hash of the requirement files: unchanged requirements, no install.
RUN_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
DEV_HASH := $(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)
RUN_STAMP := $(VENV)/.stamp-run-$(RUN_HASH)
DEV_STAMP := $(VENV)/.stamp-dev-$(DEV_HASH)

# pip, quiet, without the index-location warnings some mirrors print for every package;
# pipefail keeps pip's exit status.
PIP := set -o pipefail; $(BIN)/pip install --quiet
QUIET := 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }

# Nothing is ever downloaded from a model hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test setup setup-dev system-deps system-deps-run lint bench clean

run: $(RUN_STAMP) system-deps-run
	$(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT)

test: $(DEV_STAMP) system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(RUN_STAMP)
setup-dev: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is installed first and pinned, so that no package pulls a CUDA build of it.
$(RUN_STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(PIP) torch==2.13.0 $(QUIET)
	$(PIP) -r requirements.txt $(QUIET)
	$(PIP) --no-deps -e . $(QUIET)
	rm -f $(VENV)/.stamp-run-*
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(PIP) torch==2.13.0 $(QUIET)
	$(PIP) -r requirements-dev.txt $(QUIET)
	$(PIP) --no-deps -e . $(QUIET)
	rm -f $(VENV)/.stamp-dev-* $(VENV)/.stamp-run-*
	touch $@ $(RUN_STAMP)

# System packages: Debian's bubblewrap (kernel isolation of the sandbox; `run` and `test`)
# and chromium (browser tests; `test` only). Installed when we are root with apt; otherwise
# the sandbox falls back to process-level isolation with a visible warning, and the browser
# tests skip and say why. Never `playwright install`.
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq
# $(call ensure_pkg,TEST,PACKAGE,WHAT HAPPENS WITHOUT IT)
ensure_pkg = if $(1); then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian $(2)..."; \
	  (apt-get update -qq && $(APT_INSTALL) $(2) >/dev/null) \
	    || echo "$(2) could not be installed: $(3)"; \
	else \
	  echo "$(2) is not installed and this is not root with apt: $(3)"; \
	fi

system-deps-run:
	@$(call ensure_pkg,command -v bwrap >/dev/null 2>&1,bubblewrap,the sandbox uses process-level isolation)

system-deps: system-deps-run
	@$(call ensure_pkg,[ -x /usr/bin/chromium ],chromium,the browser tests will skip)

lint: $(DEV_STAMP)
	$(BIN)/ruff check infosynth_core tests pages app.py bench

bench: $(DEV_STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
