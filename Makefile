# One-command environment for pixel_anomaly_ros: `make test` and `make demo` create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PA := $(VENV)/bin/pixel-anomaly
TEST_ENV := ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST PYTHONUNBUFFERED=1

.PHONY: env test demo demo-bundles lint bench bench-onnxruntime gpu-check soak clean-env

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

# Both shipped demo bundles on a held-out synthetic sequence, offline and through the live node;
# the report opens with AP / FPR95 / AUROC per method. The test data in out/demo is reused.
demo: $(STAMP)
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(PA) demo --out out/demo

# How models/demo_light and models/demo_pebal were made (about 75 min on 2 CPU cores); each
# command line and seed is also recorded in the bundle's bundle.yaml.
DEMO_WORLD := data/world
demo-bundles: $(STAMP)
	$(PA) synth --out $(DEMO_WORLD) --seed 0 --train 600 --val 60 --anomalies 60
	$(PA) train segmentation --data $(DEMO_WORLD) --out models/demo_light --preset light_tiny \
	    --input-size 512x256 --crop 256x128 --batch-size 8 --optimizer adam --steps 3000 \
	    --seed 0 --checkpoint-every 250
	$(PA) train synthesis --data $(DEMO_WORLD) --out models/demo_light --crop 512x256 \
	    --batch-size 4 --steps 1200 --seed 0 --checkpoint-every 200
	$(PA) train dissimilarity --data $(DEMO_WORLD) --out models/demo_light --crop 512x256 \
	    --batch-size 4 --steps 1200 --seed 0 --checkpoint-every 200
	$(PA) train dissimilarity --data $(DEMO_WORLD) --out models/demo_light --crop 512x256 \
	    --batch-size 4 --steps 2500 --semantic predicted --seed 0 --checkpoint-every 250
	$(PA) train pebal --data $(DEMO_WORLD) --init models/demo_light --out models/demo_pebal \
	    --input-size 512x256 --crop 256x128 --batch-size 8 --steps 1500 --lr 1e-3 --seed 0 \
	    --checkpoint-every 250
	$(PA) calibrate --bundle models/demo_light --data $(DEMO_WORLD)
	$(PA) calibrate --bundle models/demo_pebal --data $(DEMO_WORLD)
	$(PA) export --bundle models/demo_light
	$(PA) export --bundle models/demo_pebal

lint: $(STAMP)
	$(PY) -m pytest test -m linter

# The CPU benchmarks recorded in benchmarks/ (full-size networks, random weights; minutes).
bench: $(STAMP)
	$(VENV)/bin/pixel-anomaly bench --preset light --resolution 2048x1024 --runs 10 --out benchmarks
	$(VENV)/bin/pixel-anomaly bench --preset pebal --resolution 1024x512 --runs 10 --out benchmarks
	$(VENV)/bin/pixel-anomaly bench --preset pebal_icnet --resolution 2048x1024 --runs 10 --out benchmarks
	$(VENV)/bin/pixel-anomaly bench --preset light_tiny --resolution 2048x1024 --runs 20 --out benchmarks
	$(VENV)/bin/pixel-anomaly bench --preset pebal_tiny --resolution 1024x512 --runs 20 --out benchmarks

# ONNX Runtime fp32 and int8 against PyTorch eager, back to back on the same inputs (issue 3)
bench-onnxruntime: $(STAMP)
	for p in 'light 2048x1024' 'pebal 1024x512'; do set -- $$p; \
	  for b in 'torch fp32' 'onnxruntime fp32' 'onnxruntime int8'; do \
	    $(VENV)/bin/pixel-anomaly bench --preset $$1 --resolution $$2 --runs 10 --out benchmarks \
	      --backend $${b% *} --precision $${b#* } || exit 1; done; done

# The one prepared GPU measurement, for a session with a lent GPU (about 5 minutes there): the
# gpu tests, then per-stage latency of the full-size pipelines on torch-CUDA fp32 / fp16 /
# fp16 + CUDA graphs (and TensorRT when installed) -> benchmarks/gpu_check_<gpu>.{json,md}.
# The lent machine has its own python3 with PyTorch and CUDA (this .venv does not travel).
# Without a CUDA GPU it prints one line and exits 0.
GPU_PYTHON := $(if $(wildcard $(PY)),$(PY),python3)
gpu-check:
	PYTHONPATH=$(CURDIR) PYTHONUNBUFFERED=1 $(GPU_PYTHON) -m pixel_anomaly_ros.bench.gpu_check --out benchmarks
# Ten minutes of a 30 Hz 1024x512 camera into detector_node with the fast demo bundle (issue 12)
soak: $(STAMP)
	$(VENV)/bin/pixel-anomaly bench --node --soak 10 --bundle models/demo_pebal --backend auto \
	  --rate 30 --resolution 1024x512 --out benchmarks

clean-env:
	rm -rf $(VENV)
