# Two commands do all setup: `make run` starts the platform, `make test` runs every test.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AZURITE := node_modules/.bin/azurite
NPM_CI := npm ci --no-audit --no-fund --loglevel=error

.PHONY: run test test-unit bench lint lock clean venv setup system-deps

# The dependency groups live in pyproject.toml; `make lock` pins them, with hashes, into
# requirements/dev.txt (everything run and test need: this venv), the root requirements.txt
# (the Functions app alone: Azure's build installs it), requirements/configdb.txt and
# requirements/sip-edge.txt. The deployables' locks take their versions from the dev lock.
DEV_LOCK := requirements/dev.txt
LOCK_FLAGS ?=
UV_COMPILE = $(BIN)/uv pip compile --quiet --python-version 3.11 --python-platform linux \
	--generate-hashes --custom-compile-command "make lock" $(LOCK_FLAGS)

$(STAMP): $(DEV_LOCK)
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r $(DEV_LOCK)
	@touch $(STAMP)

# Re-pins after a change to pyproject.toml's groups, keeping every version it can;
# `make lock LOCK_FLAGS=--upgrade` (or `--upgrade-package NAME`) moves to newer releases.
lock: $(STAMP)
	$(UV_COMPILE) --group dev -o $(DEV_LOCK)
	$(UV_COMPILE) --group functions -c $(DEV_LOCK) -o requirements.txt
	$(UV_COMPILE) --group configdb -c $(DEV_LOCK) -o requirements/configdb.txt
	$(UV_COMPILE) --group sip-edge -c $(DEV_LOCK) -o requirements/sip-edge.txt
	$(UV_COMPILE) --group lint -o $(LINT_LOCK)

# Azurite (the storage emulator) comes from npm, pinned in package.json and package-lock.json.
$(AZURITE): package.json package-lock.json
	@command -v node >/dev/null || { echo "Node.js 20 is required (node not found): install nodejs and npm"; exit 1; }
	@command -v npm >/dev/null || { echo "npm is required (npm not found): install npm"; exit 1; }
	$(NPM_CI) || { rm -rf node_modules && $(NPM_CI); }
	@touch $(AZURITE)

# Debian packages the tests drive: SIPp (sip-tester), the third-party SIP peer; Chromium for
# the portal's browser tests (Playwright cannot download its own browsers here); iproute2
# (ip, tc) for the ConfigDB's network-partition tests; etcd-server for `make bench`'s side-by-side
# ConfigDB figures; wrk, the load generator of bench/api.py.
APT_PACKAGES := sip-tester chromium iproute2 etcd-server wrk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:
	@{ command -v sipp && test -x /usr/bin/chromium && command -v tc && command -v etcd && command -v wrk; } >/dev/null || { \
	  echo "installing Debian packages: $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; }

venv: $(STAMP)

setup: $(STAMP) $(AZURITE) system-deps

run: setup
	$(BIN)/python -m infra.local.run

test: setup lint
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25 tests

# The fast loop: the unit tests, with the Raft simulation on fewer seeds (`make test`
# runs the full count).
test-unit: $(STAMP)
	SIM_SEEDS=$${SIM_SEEDS:-150} $(BIN)/python -m pytest -q -n 2 tests/unit

bench: $(STAMP)
	$(BIN)/python bench/configdb.py
	$(BIN)/python bench/sip_edge.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/history.py

# The infrastructure checkers live in their own venv (.venv-lint, from requirements/lint.txt):
# checkov's pins conflict with the dev lock. Their skip lists are .checkov.yaml and
# .hadolint.yaml, one line of reason per skip. `make test` runs this first (about 25 s of CPU,
# most of it checkov starting).
LINT_VENV := .venv-lint
LINT_LOCK := requirements/lint.txt
LINT_STAMP := $(LINT_VENV)/.installed
DOCKERFILES := configdb_nodes/Dockerfile sip_edge/Dockerfile
CHECKOV_SKIP_PATHS := node_modules '\.venv' '\.data' '\.git/' tests web
CHECKOV_REPORT := $(LINT_VENV)/checkov.json
# checkov passes a file its parser cannot read (pycep lags Bicep's syntax) without checking it:
# that fails here instead, naming the files.
define CHECKOV_PARSED
import json, sys
reports = json.load(open(sys.argv[1]))
reports = reports if isinstance(reports, list) else [reports]
unread = [f for r in reports for f in r.get("results", {}).get("parsing_errors", [])]
unread += [r["check_type"] for r in reports if r["summary"].get("parsing_errors") and not unread]
sys.exit(f"checkov could not parse, so did not check: {unread}" if unread else 0)
endef
export CHECKOV_PARSED

$(LINT_STAMP): $(LINT_LOCK) | $(STAMP)
	$(BIN)/uv venv -q --allow-existing --python $(PY) $(LINT_VENV)
	VIRTUAL_ENV=$(CURDIR)/$(LINT_VENV) $(BIN)/uv pip install -q --require-hashes -r $(LINT_LOCK)
	@touch $@

lint: $(STAMP) $(LINT_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(LINT_VENV)/bin/hadolint $(DOCKERFILES)
	@rm -f $(CHECKOV_REPORT)
	$(LINT_VENV)/bin/checkov --quiet --compact --skip-download -d . --framework bicep dockerfile \
	  $(addprefix --skip-path ,$(CHECKOV_SKIP_PATHS)) -o cli -o json --output-file-path console,$(CHECKOV_REPORT)
	@$(LINT_VENV)/bin/python -c "$$CHECKOV_PARSED" $(CHECKOV_REPORT)

clean:
	rm -rf .data
