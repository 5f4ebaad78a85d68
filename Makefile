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

# How models/demo_light and models/demo_pebal are made (issue 15; about 2 h 40 min on 2 CPU cores):
# a camera-like synthetic world, lattice-free networks (presets light_tiny_v2 and
# pebal_icnet_tiny_v2: a 2x wider ICNet with half-pixel resizes whose scores come from its 1/8
# logits, a resize-convolution dissimilarity decoder); PEBAL fine-tunes the whole ICNet. The
# last steps continue earlier ones: ICNet trains on, then the dissimilarity network adapts to
# its new predictions and also learns from pasted objects (--mix-prob); PEBAL starts from the
# first ICNet, before it trains on.
# Built in $(V2), then copied to models/; each command line and seed is also recorded in the
# bundle's bundle.yaml. Resumable: every step is a file target under $(V2) touched only when its
# command succeeded, so `make demo-bundles` after an interruption skips the finished steps, and
# the interrupted trainer continues from its last checkpoint (--resume, one --work directory per
# step). synth and calibrate/export are atomic and re-run whole.
V2 := build/demo-v2
V2_WORLD := data/world-v2
V2_LIGHT := $(V2)/demo_light
V2_PEBAL := $(V2)/demo_pebal
V2_TRAIN := --seed 0 --resume --quiet
V2_SYNTH := --train 1500 --val 100 --anomalies 100
V2_SEG_STEPS := 5000
V2_SYN_STEPS := 1200
V2_DIS_STEPS := 1000
V2_DIS_PRED_STEPS := 2500
V2_SEG_MORE_STEPS := 6000
V2_DIS_MIX_STEPS := 3000
V2_PEBAL_STEPS := 4000
V2_EVERY := 100
demo-bundles: $(V2)/export.done
	@du -sh $(V2_LIGHT) $(V2_PEBAL)
	@for b in $(V2_LIGHT) $(V2_PEBAL); do test $$(du -sm $$b | cut -f1) -le 25 || \
	    { echo "$$b is over 25 MB"; exit 1; }; done
	rm -rf models/demo_light.new models/demo_pebal.new
	cp -r $(V2_LIGHT) models/demo_light.new && cp -r $(V2_PEBAL) models/demo_pebal.new
	rm -rf models/demo_light models/demo_pebal
	mv models/demo_light.new models/demo_light && mv models/demo_pebal.new models/demo_pebal
$(V2)/world.done: | $(STAMP)
	$(PA) synth --out $(V2_WORLD) --seed 0 $(V2_SYNTH) --realism camera --quiet
	@mkdir -p $(V2) && touch $@
$(V2)/segmentation.done: $(V2)/world.done
	$(PA) train segmentation --data $(V2_WORLD) --out $(V2_LIGHT) --preset light_tiny_v2 \
	    --input-size 512x256 --crop 256x128 --batch-size 8 --optimizer adam \
	    --steps $(V2_SEG_STEPS) --checkpoint-every $(V2_EVERY) --work $(V2)/work/segmentation $(V2_TRAIN)
	@touch $@
$(V2)/synthesis.done: $(V2)/segmentation.done
	$(PA) train synthesis --data $(V2_WORLD) --out $(V2_LIGHT) --crop 512x256 --batch-size 4 \
	    --steps $(V2_SYN_STEPS) --checkpoint-every $(V2_EVERY) --work $(V2)/work/synthesis \
	    $(V2_TRAIN)
	@touch $@
$(V2)/dissimilarity-gt.done: $(V2)/synthesis.done
	$(PA) train dissimilarity --data $(V2_WORLD) --out $(V2_LIGHT) --crop 512x256 \
	    --batch-size 4 --steps $(V2_DIS_STEPS) --checkpoint-every $(V2_EVERY) \
	    --work $(V2)/work/dissimilarity-gt $(V2_TRAIN)
	@touch $@
$(V2)/dissimilarity.done: $(V2)/dissimilarity-gt.done
	$(PA) train dissimilarity --data $(V2_WORLD) --out $(V2_LIGHT) --crop 512x256 \
	    --batch-size 4 --steps $(V2_DIS_PRED_STEPS) --semantic predicted \
	    --checkpoint-every $(V2_EVERY) --work $(V2)/work/dissimilarity-predicted $(V2_TRAIN)
	@touch $@
# PEBAL starts from the ICNet of the first segmentation run, before it trains on (measured:
# 31.7 % AP from it against 20.4 % from the continued one; models/README.md).
$(V2)/segmentation-continued.done: $(V2)/dissimilarity.done $(V2)/pebal.done
	$(PA) train segmentation --data $(V2_WORLD) --out $(V2_LIGHT) --crop 256x128 --batch-size 8 \
	    --optimizer adam --lr 5e-4 --steps $(V2_SEG_MORE_STEPS) --checkpoint-every $(V2_EVERY) \
	    --work $(V2)/work/segmentation-continued $(V2_TRAIN)
	@touch $@
$(V2)/dissimilarity-mix.done: $(V2)/segmentation-continued.done
	$(PA) train dissimilarity --data $(V2_WORLD) --out $(V2_LIGHT) --crop 512x256 \
	    --batch-size 4 --steps $(V2_DIS_MIX_STEPS) --semantic predicted --mix-prob 0.5 \
	    --checkpoint-every $(V2_EVERY) --work $(V2)/work/dissimilarity-mix $(V2_TRAIN)
	@touch $@
$(V2)/pebal.done: $(V2)/segmentation.done
	$(PA) train pebal --data $(V2_WORLD) --init $(V2_LIGHT) --out $(V2_PEBAL) \
	    --preset pebal_icnet_tiny_v2 --input-size 512x256 --crop 256x128 --batch-size 8 \
	    --steps $(V2_PEBAL_STEPS) --lr 1e-3 --block all --checkpoint-every $(V2_EVERY) \
	    --work $(V2)/work/pebal $(V2_TRAIN)
	@touch $@
$(V2)/export.done: $(V2)/dissimilarity-mix.done $(V2)/pebal.done
	$(PA) calibrate --bundle $(V2_LIGHT) --data $(V2_WORLD)
	$(PA) calibrate --bundle $(V2_PEBAL) --data $(V2_WORLD)
	$(PA) export --bundle $(V2_LIGHT)
	$(PA) export --bundle $(V2_PEBAL)
	@touch $@

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
