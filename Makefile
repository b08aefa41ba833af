# sharpminima: every entry point. Each target creates/uses the local virtual environment (.venv)
# and installs the pinned dependencies itself on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
SNAKEMAKE := $(PY) -m snakemake
CORES ?= all
NPROC := $(shell nproc 2>/dev/null || echo 2)
export DVC_NO_ANALYTICS := 1

.PHONY: help venv demo example lint test reproduce reproduce-cpu reference-cpu nets dry-run snapshot pull readme-verdicts

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 needed: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)  ## create .venv with the pinned dependencies

demo: venv  ## the embedded CPU demo on Fashion-MNIST (offline), every output at demo scale
	bash workflow/scripts/ensure_fashion_mnist.sh
	$(SNAKEMAKE) --configfile config/demo.yaml --cores $(CORES) --resources gpu=$(NPROC)
	$(SNAKEMAKE) --configfile config/demo.yaml --report results/report/report.html

example: venv  ## the whole DAG on a network of your own (examples/mynet.py), tiny scale, Fashion-MNIST
	bash workflow/scripts/ensure_fashion_mnist.sh
	$(SNAKEMAKE) --configfile examples/config.yaml --cores $(CORES) --resources gpu=$(NPROC)

lint: venv  ## ruff check (Python) + snakefmt --check (rules; settings in pyproject.toml) + snakemake --lint on every shipped config
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/snakefmt --check Snakefile workflow
	for c in config/config.yaml config/demo.yaml config/cpu.yaml; do \
		$(SNAKEMAKE) --lint --nolock --configfile $$c --workflow-profile none || exit 1; done

test: lint  ## lint, unit tests + the real DAG on a tiny generated config
	$(PY) -m pytest -q

reproduce: venv  ## the full paper configuration (GPU expected; works on CPU, slowly)
	$(SNAKEMAKE) --configfile config/config.yaml --cores $(CORES) --resources gpu=1

reproduce-cpu: venv  ## F1 on all of Fashion-MNIST under the paper's protocol (2 CPU cores, < 2 h)
	bash workflow/scripts/ensure_fashion_mnist.sh
	bash workflow/scripts/timed_run.sh "make reproduce-cpu" \
		$(SNAKEMAKE) --configfile config/cpu.yaml --cores $(CORES) --resources gpu=$(NPROC)
	$(SNAKEMAKE) --configfile config/cpu.yaml --report results/report/report.html

reference-cpu: venv  ## copy the CPU tier's report, tables and PNGs to docs/reference/cpu (after reproduce-cpu)
	$(PY) -m sharpminima reference --results results --run results/report/run.json \
		--out docs/reference/cpu

dry-run: venv  ## what `make reproduce` would run, and why
	$(SNAKEMAKE) --configfile config/config.yaml -n --quiet rules

nets: venv  ## the network registry with parameter counts
	$(PY) -m sharpminima nets

snapshot: venv  ## record data/ and results/ with DVC, commit the pointers, push to the DVC remote
	bash workflow/scripts/snapshot.sh

CONFIG ?= config/demo.yaml
pull: venv  ## dvc pull the checked-out snapshot and mark it up to date (CONFIG=the config it used)
	bash workflow/scripts/pull.sh $(CONFIG)

readme-verdicts: venv  ## put the demo report's verdicts into README.md (after make demo)
	$(PY) -m sharpminima readme-verdicts --report results/report/REPORT.md --readme README.md
