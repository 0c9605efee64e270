# One task runner. `make run` and `make test` work on a fresh machine with Python 3.11+.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Where torch's wheels come from: the CPU builds by default; a CUDA machine installs with
# `make install TORCH_INDEX=https://download.pytorch.org/whl/cu128`.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install run test lint bench bench-optimizers bench-coverage bench-seed-wave bench-seed-wave-modern bench-engine bench-models bench-tuning bench-studies bench-flatness bench-study-service bench-service bench-reads bench-serve bench-search bench-search-grid migrate worker api

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, from TORCH_INDEX: a bare `torch` from PyPI is the multi-GB CUDA build on Linux.
	$(BIN)/pip install -q torch==2.13.0 --extra-index-url $(TORCH_INDEX)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench-engine: $(STAMP)
	$(BIN)/python bench/engine.py

# The notes' experiment from seeds 0-4: the README's per-seed table.
# The optimizer catalogue, each optimizer's 5 seeds: the engine vs a plain loop (~10 min).
bench-optimizers: $(STAMP)
	$(BIN)/python bench/optimizers.py

# resnet-mini on the digits, 4 optimizers x 5 seeds x 2,000 steps: torch.func path vs a plain loop.
bench-models: $(STAMP)
	$(BIN)/python bench/models.py

bench-seed-wave: $(STAMP)
	$(BIN)/python bench/seed_wave.py

# The notes' experiment with the optimizer catalogue, 10 seeds: mean test loss, interval, rank
# and the Holm-corrected tests against Adam, as a markdown table (~10 min).
bench-seed-wave-modern: $(STAMP)
	$(BIN)/python bench/seed_wave_modern.py

# Coverage of the 95% intervals over 3, 5 and 10 seeds, by simulation (about a minute).
bench-coverage: $(STAMP)
	$(BIN)/python bench/coverage.py

# The fair-tuning study at the issue's size (9 optimizers x 20 lrs x 5 seeds, then 45 test
# runs) through shards and worker processes; `bench/tuning.py --quick` for a smoke run.
bench-tuning: $(STAMP)
	$(BIN)/python bench/tuning.py

# Settings come from OPTARENA_* variables; with none, data and broker are SQLite files in ./var.
HOST ?= 127.0.0.1
PORT ?= 8000
QUEUES ?= cpu

migrate: $(STAMP)
	$(BIN)/alembic upgrade head

worker: $(STAMP)
	$(BIN)/celery -A worker.celery_app worker -Q $(QUEUES) --pool solo -l INFO

# WORKERS=N: N API processes on one port (uvicorn --workers). With Redis as the broker they
# share each key's rate limit; each serves its streams from one database poll per job. Set
# PROMETHEUS_MULTIPROC_DIR (an empty directory) for GET /metrics to sum all of them.
WORKERS ?= 1

api: $(STAMP)
	OPTARENA_BIND_HOST=$(HOST) $(BIN)/uvicorn api.main:app --host $(HOST) --port $(PORT) --workers $(WORKERS)

# The embedded default: the API and one worker in the foreground; Ctrl-C stops both. On first
# start it creates a local API key and prints it once; every start prints a one-time sign-in link
# (GET /login?token=..., valid 10 minutes); it serves 127.0.0.1 only.
run: migrate
	@mkdir -p var
	@$(BIN)/optarena keys local --host $(HOST) --port $(PORT)
	@echo "optarena: worker log: var/worker.log"
	@$(BIN)/celery -A worker.celery_app worker -Q $(QUEUES) --pool solo -l INFO > var/worker.log 2>&1 & \
	  worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	  OPTARENA_BIND_HOST=$(HOST) $(BIN)/uvicorn api.main:app --host $(HOST) --port $(PORT)

bench-service: $(STAMP)
	$(BIN)/python bench/service.py

# Reads of a finished 35-run x 10,000-step job by 10 concurrent clients on one API process
# (SQLite): cold, warm (cached) and 304 answers, and reads of a running job (~1 min).
bench-reads: $(STAMP)
	$(BIN)/python bench/reads.py

# 200 SSE viewers of a running 35-run job: the API process's CPU, the job's time against one
# with no viewer, every event once per viewer (uvicorn, a worker, PostgreSQL, Redis; ~2-3 min).
bench-serve: $(STAMP)
	$(BIN)/python bench/serve.py

# The tuning preset through the service: HTTP, shards, two Celery workers, PostgreSQL, Redis.
bench-study-service: $(STAMP)
	$(BIN)/python bench/study_service.py

# search-wave (Adam and SGD) through the service against Optuna's study.optimize with plain loops.
bench-search: $(STAMP)
	$(BIN)/python bench/search.py

# What a 24-trial search finds against the 100-run learning-rate grid (SGD, Adam).
bench-search-grid: $(STAMP)
	$(BIN)/python bench/search_grid.py

# The other study presets at full size: time and findings of each.
bench-studies: $(STAMP)
	$(BIN)/python bench/studies.py

# batch-size-digits' flatness report: SAM-Momentum against Momentum at equal steps and at equal
# gradient evaluations, per batch size.
bench-flatness: $(STAMP)
	$(BIN)/python bench/flatness.py

bench: bench-coverage bench-seed-wave bench-seed-wave-modern bench-engine bench-models bench-optimizers bench-tuning bench-study-service bench-studies bench-service bench-reads
