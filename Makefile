# One-command environment for pixel_anomaly_ros: `make test` and `make demo` create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_ENV := ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST PYTHONUNBUFFERED=1

.PHONY: env test demo lint bench clean-env

env: $(STAMP)

# Re-installs only when the requirements or the package metadata change.
$(STAMP): requirements.txt setup.py setup.cfg package.xml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

test: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest test

# Until the trained demo bundles ship, the demo times both pipelines on tiny random-weight networks.
demo: $(STAMP)
	$(VENV)/bin/pixel-anomaly bench --preset light_tiny --resolution 1024x512 --runs 10 --out out/demo
	$(VENV)/bin/pixel-anomaly bench --preset pebal_tiny --resolution 1024x512 --runs 10 --out out/demo
	@echo "demo results: out/demo/"

lint: $(STAMP)
	$(PY) -m pytest test -m linter

# The CPU benchmarks recorded in benchmarks/ (full-size networks, random weights; minutes).
bench: $(STAMP)
	$(VENV)/bin/pixel-anomaly bench --preset light --resolution 2048x1024 --runs 10
	$(VENV)/bin/pixel-anomaly bench --preset pebal --resolution 1024x512 --runs 10
	$(VENV)/bin/pixel-anomaly bench --preset pebal_icnet --resolution 2048x1024 --runs 10
	$(VENV)/bin/pixel-anomaly bench --preset light_tiny --resolution 2048x1024 --runs 20
	$(VENV)/bin/pixel-anomaly bench --preset pebal_tiny --resolution 1024x512 --runs 20

clean-env:
	rm -rf $(VENV)
