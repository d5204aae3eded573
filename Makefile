# ResolutionFlow Analytics — `make` lists the targets.
# Two commands get you going on a fresh machine:
#   make publish   set up, build the demo database, publish the dashboards to published/
#   make test      set up, run every test (unit, SQLite + PostgreSQL, notebooks, end to end)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
KERNEL := resolutionflow-analytics
STAMP     := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.dev-stamp
LAB_STAMP := $(VENV)/.lab-stamp
LAB_PORT  ?= 8888
# JupyterLab refuses to start as root (containers often are) unless told it may
LAB_ARGS  ?= $(if $(filter 0,$(shell id -u)),--allow-root)
TODAY  := $(shell date -u +%F)
DEMO_DB    := data/demo.sqlite
DEMO_STAMP := data/.demo-$(TODAY)
DEMO_SEED  ?= 7
DEMO_SCALE ?= 1.0
WORKERS    ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup setup-dev demo publish test test-fast lab lint format clean bench mutation screenshots

help: ## Show this list of targets
	@echo "ResolutionFlow Analytics"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

# Three install levels, each a stamp file in .venv (redone when pyproject.toml changes):
#   $(STAMP)      the package and what the main job needs to run (make publish, rfa, the kernel)
#   $(DEV_STAMP)  + the `dev` extra: pytest, hypothesis, Playwright, ruff, pyinstrument, … (make test)
#   $(LAB_STAMP)  + the `lab` extra: JupyterLab (make lab)
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "ResolutionFlow Analytics"
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(DEV_STAMP)

$(LAB_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e '.[lab]'
	touch $(LAB_STAMP)

setup: $(STAMP) ## Create .venv with what the dashboards need to run; register the Jupyter kernel

setup-dev: $(DEV_STAMP) ## setup + the dev tools the tests need (pytest, hypothesis, Playwright, ruff, …)

$(DEMO_STAMP): $(STAMP)
	rm -f data/.demo-* $(DEMO_DB).tmp
	$(BIN)/rfa db init --url sqlite:///$(DEMO_DB).tmp
	$(BIN)/rfa demo --url sqlite:///$(DEMO_DB).tmp --seed $(DEMO_SEED) --scale $(DEMO_SCALE)
	mv $(DEMO_DB).tmp $(DEMO_DB)
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP) ## Build the embedded SQLite demo database (data/demo.sqlite, ending today)

publish: $(DEMO_STAMP) ## Publish every demo team's schedule (params/teams/) to published/
	$(BIN)/rfa publish --all-schedules --workers $(WORKERS)
	@echo "Open published/index.html in a browser."

lab: $(LAB_STAMP) $(DEMO_STAMP) ## Install JupyterLab (the `lab` extra) and open the notebooks with the project kernel
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(LAB_PORT) \
		--MappingKernelManager.default_kernel_name=$(KERNEL) $(LAB_ARGS)

test: $(DEV_STAMP) ## Run every test (starts a throwaway PostgreSQL on 127.0.0.1)
	$(BIN)/python -m pytest

test-fast: $(DEV_STAMP) ## Run the tests that execute no notebook
	$(BIN)/python -m pytest -m "not slow"

bench: $(DEV_STAMP) ## Run the benchmarks (BENCH_SCALES=10k,100k or BENCH_QUICK=1 for a short run) into bench/results/
	$(BIN)/python -m bench.run

screenshots: $(DEV_STAMP) $(DEMO_STAMP) ## Full-page PNGs of one page per dashboard kind (1400x900, 390x844, each renderer) into build/screenshots/
	$(BIN)/python tools/screenshots.py

MUTATION_GROUPS ?= window privacy catalog metrics present

mutation: $(DEV_STAMP) ## Mutation testing with mutmut, slow, not in make test (MUTATION_GROUPS="window privacy"): build/mutation/
	nice -n 19 $(BIN)/python tools/mutation_report.py $(MUTATION_GROUPS)

lint: $(DEV_STAMP) ## Lint the library and tests with ruff
	$(BIN)/ruff check lib tests

format: $(DEV_STAMP) ## Format the library and tests with ruff
	$(BIN)/ruff format lib tests

clean: ## Remove build output, published pages and the demo database (keeps .venv)
	rm -rf build published/* data
