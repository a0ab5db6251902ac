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

# The main job on the embedded data: train a lecture architecture (ResNet-20, He et al. Sec. 4.2) on
# scikit-learn's bundled digits for about a minute, evaluate it, show its cost, draw the plots.
demo: $(STAMP)
	rm -rf runs/demo
	$(VENV)/bin/cnnzoo train resnet20 --data digits --recipe demo --out runs/demo
	$(VENV)/bin/cnnzoo eval --checkpoint runs/demo/model.safetensors
	$(VENV)/bin/cnnzoo summary resnet20 --depth 2
	$(VENV)/bin/cnnzoo compare resnet20 resnet56 resnet110 mobilenet_v2 resnet50 vgg16 --plot runs/demo/compare.png
	@echo "plots: runs/demo/curves.png runs/demo/confusion.png runs/demo/compare.png runs/demo/compare-ilsvrc.png"

# One pytest worker per core (pytest-xdist), each computing on one thread (tests/conftest.py); tests
# handed out two at a time, the long ones first, so that the workers finish together.
test: $(STAMP)
	$(VENV)/bin/ruff check src tests scripts
	$(PY) -m pytest -q -n auto --maxschedchunk 2

# Regenerate docs/models.md (every family and model) and src/cnnzoo/costs.json from the registry;
# `python scripts/update_model_table.py --check` says whether either is out of date.
table: $(STAMP)
	$(PY) scripts/update_model_table.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache runs
