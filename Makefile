# Two commands do all setup: `make run` starts the platform, `make test` runs every test.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
AZURITE := node_modules/.bin/azurite
NPM_CI := npm ci --no-audit --no-fund --loglevel=error

.PHONY: run test bench lint clean venv setup system-deps

$(STAMP): requirements.txt
	@command -v $(PY) >/dev/null || { echo "Python 3.11 is required ($(PY) not found)"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	@touch $(STAMP)

# Azurite (the storage emulator) comes from npm, pinned in package.json and package-lock.json.
$(AZURITE): package.json package-lock.json
	@command -v node >/dev/null || { echo "Node.js 20 is required (node not found): install nodejs and npm"; exit 1; }
	@command -v npm >/dev/null || { echo "npm is required (npm not found): install npm"; exit 1; }
	$(NPM_CI) || { rm -rf node_modules && $(NPM_CI); }
	@touch $(AZURITE)

# Debian packages the tests drive: SIPp (sip-tester), the third-party SIP peer, and
# Chromium for the portal's browser tests (Playwright cannot download its own browsers here).
APT_PACKAGES := sip-tester chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:
	@{ command -v sipp && test -x /usr/bin/chromium; } >/dev/null || { \
	  echo "installing Debian packages: $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; }

venv: $(STAMP)

setup: $(STAMP) $(AZURITE) system-deps

run: setup
	$(BIN)/python -m infra.local.run

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

bench: $(STAMP)
	$(BIN)/python bench/configdb.py
	$(BIN)/python bench/sip_edge.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/history.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf .data
