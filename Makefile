# The two commands of the README's quick start. Each sets up .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test table clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch and torchvision are pinned to the builds this machine serves from its local cache.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cnnzoo list
	$(VENV)/bin/cnnzoo summary alexnet
	$(VENV)/bin/cnnzoo info resnet50

test: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts
	$(PY) -m pytest -q

# Regenerate the README's model table and src/cnnzoo/costs.json from the registry.
table: $(STAMP)
	$(PY) scripts/update_model_table.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
