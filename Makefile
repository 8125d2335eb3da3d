# The two commands: `make demo` (train on the synthetic shop, publish to a local Redis, serve) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REDIS_PORT ?= 6379
PORT ?= 8000
DEMO_DIR := data/demo
DEMO_KEY ?= demo-key
export OPENBLAS_NUM_THREADS := 1

.PHONY: setup demo test screenshots lint bench-quality bench-load bench-publish bench-failover redis clean

# Debian packages, installed only when missing (sudo unless root).
APT_INSTALL = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends

$(VENV)/.installed: pyproject.toml
	@command -v redis-server >/dev/null || { echo "installing redis-server"; $(APT_INSTALL) redis-server >/dev/null; }
	@command -v chromium >/dev/null || { echo "installing chromium (browser tests)"; $(APT_INSTALL) chromium >/dev/null; }
	@command -v java >/dev/null || { echo "installing a Java runtime (the Spark engine)"; $(APT_INSTALL) openjdk-17-jre-headless >/dev/null; }
	@$(PYTHON) -c "import ensurepip" 2>/dev/null || { $(APT_INSTALL) python3-venv >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[service,training,spark,dev]'
	touch $@

setup: $(VENV)/.installed

redis: setup
	@$(VENV)/bin/python -c "import redis,sys; redis.Redis(port=$(REDIS_PORT)).ping()" 2>/dev/null \
		|| redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --daemonize yes --save "" >/dev/null
	@sleep 0.3

demo: setup redis
	$(PY) -m training datasets synthetic --out $(DEMO_DIR) --users 5000 --items 800 --seed 42 --end now
	$(PY) -m training run --events $(DEMO_DIR)/events.csv --items $(DEMO_DIR)/items.csv --users $(DEMO_DIR)/users.csv \
		--offers examples/offers.yaml --experiments examples/experiments.yaml \
		--export $(DEMO_DIR)/export --report-dir $(DEMO_DIR)/report --redis redis://127.0.0.1:$(REDIS_PORT)/0
	@echo; echo "Try (in another terminal):"
	@echo "  curl -s 'localhost:$(PORT)/v1/users/U0000042/recommendations?n=5'"
	@echo "  curl -s 'localhost:$(PORT)/v1/users/U0000042/recommendations?n=5&category=books&exclude=I000001'"
	@echo "  curl -s 'localhost:$(PORT)/v1/items/I000010/similar?n=5'"
	@echo "  curl -s 'localhost:$(PORT)/v1/popular?n=5&category=grocery'"
	@echo "  curl -s 'localhost:$(PORT)/v1/model'; curl -s localhost:$(PORT)/readyz"
	@echo "  curl -s localhost:$(PORT)/v1/segments; curl -s 'localhost:$(PORT)/v1/campaigns/vip-electronics/audience?limit=5'"
	@echo "Dashboard: http://localhost:$(PORT)/dashboard (any user name, password $(DEMO_KEY))  API docs: http://localhost:$(PORT)/docs/"
	@echo "Report: $(DEMO_DIR)/report/report.html"; echo
	RECSVC_API_KEYS=$(DEMO_KEY) REDIS_URL=redis://127.0.0.1:$(REDIS_PORT)/0 RECSVC_BIND=127.0.0.1:$(PORT) $(VENV)/bin/gunicorn -c gunicorn.conf.py recsvc.wsgi:app

test: setup
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q

# Dashboard and training-report screenshots for docs/dashboard.md, taken by the browser test.
screenshots: setup
	RECSVC_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q tests/recsvc/api/test_dashboard_browser.py

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench-quality: setup
	$(PY) -m training datasets movielens-100k --src ../shared/datasets/movielens-100k --out data/ml100k
	$(PY) -m tools bench quality --data data/ml100k
	$(PY) -m training datasets online-retail --src ../shared/datasets/online-retail/online_retail.csv --out data/or
	$(PY) -m tools bench shop --data data/or --test-from 2011-11-01 --job default

bench-load: setup
	@command -v wrk >/dev/null || { $(APT_INSTALL) wrk >/dev/null; }
	$(PY) -m tools bench load $(if $(CLUSTER),--cluster)

bench-publish: setup
	$(PY) -m tools bench publish --users 1000000 $(if $(CLUSTER),--cluster)

# A Redis Cluster master killed while clients ask for recommendations (docs/cluster.md).
bench-failover: setup
	$(PY) -m tools bench failover

clean:
	rm -rf $(VENV) data .pytest_cache
