# scvbench: `make demo` and `make test` each create the environment they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUNTIME_STAMP := $(VENV)/.runtime-stamp
DEMO_DIR ?= demo_output
NPROCS ?= 2
DEMO_MODELS ?= frangi unet attention_unet deeplabv3plus
DEMO_RECIPE ?= cpu-patch
DEMO_ITERATIONS ?=

.PHONY: demo demo-app-participants test bench lint figure clean baselines browser slurm docs

# The demo needs scvbench's own dependencies; the tests, benchmarks, lint and docs the dev extras.
$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: it must come from the CPU wheel, never the CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(RUNTIME_STAMP)
	@# The demo rebuilds its data set from the synthetic cohort every time: a cohort made by another
	@# generator version would otherwise meet the old dataset, split and scores.
	rm -rf $(DEMO_DIR)/bids $(DEMO_DIR)/key.csv $(DEMO_DIR)/stats $(DEMO_DIR)/evaluation \
		$(DEMO_DIR)/leaderboard $(DEMO_DIR)/quick_runs $(DEMO_DIR)/app
	$(BIN)/scvbench synth $(DEMO_DIR)/sourcedata --preset demo --seed 0 --nprocs $(NPROCS) --force
	$(BIN)/python -m scvbench.steps.synth.preview $(DEMO_DIR)/sourcedata $(DEMO_DIR)/synth_minip.png
	$(BIN)/scvbench convert $(DEMO_DIR)/sourcedata/dicom $(DEMO_DIR)/bids \
		--demographics $(DEMO_DIR)/sourcedata/demographics.csv \
		--fazekas $(DEMO_DIR)/sourcedata/fazekas.csv \
		--key-file $(DEMO_DIR)/key.csv --nprocs $(NPROCS)
	$(BIN)/scvbench derive $(DEMO_DIR)/bids --nprocs $(NPROCS)
	$(BIN)/scvbench annotations import $(DEMO_DIR)/sourcedata/annotations $(DEMO_DIR)/bids \
		--key-file $(DEMO_DIR)/key.csv
	$(BIN)/scvbench morph --bids $(DEMO_DIR)/bids --masks $(DEMO_DIR)/bids/derivatives/annotations \
		--desc rater1
	$(BIN)/scvbench stats \
		--morph $(DEMO_DIR)/bids/derivatives/annotations/acq-swi_desc-scv_morph.tsv \
		--participants $(DEMO_DIR)/bids/participants.tsv \
		--phenotype $(DEMO_DIR)/bids/phenotype/fazekas.tsv -o $(DEMO_DIR)/stats
	$(BIN)/scvbench splits $(DEMO_DIR)/bids
	$(BIN)/scvbench validate -r $(DEMO_DIR)/bids
	@# Each baseline trained on fold 0 ($(DEMO_RECIPE) recipe: 128 px patches, minutes on a CPU), one
	@# after the other with every core; then each submission predicted and scored on the test and
	@# association splits, and the BIDS-App (as a container or a SLURM array runs it, with the
	@# U-Net) run on every participant, $(NPROCS) of these jobs at a time (much of each is start-up
	@# and file work on one core); the entries go on a demo leaderboard.
	@set -e; for m in $(DEMO_MODELS); do \
		echo "== $$m: train"; \
		$(BIN)/scvbench train $(DEMO_DIR)/bids --model $$m --fold 0 --recipe $(DEMO_RECIPE) \
			$(if $(DEMO_ITERATIONS),--iterations $(DEMO_ITERATIONS)) \
			--out $(DEMO_DIR)/quick_runs/$$m --quiet; \
	done
	$(MAKE) --no-print-directory --output-sync=target -j $(NPROCS) \
		$(addprefix demo-score-,$(DEMO_MODELS)) demo-app-participants
	@set -e; for m in $(DEMO_MODELS); do \
		$(BIN)/scvbench leaderboard add $(DEMO_DIR)/evaluation/$$m/test/results.json --replace \
			--association $(DEMO_DIR)/evaluation/$$m/association/results.json \
			--run $(DEMO_DIR)/quick_runs/$$m --dir $(DEMO_DIR)/leaderboard \
			--report $(DEMO_DIR)/evaluation/$$m/test/report.html; \
	done
	$(BIN)/scvbench leaderboard build --dir $(DEMO_DIR)/leaderboard
	$(BIN)/scvbench run $(DEMO_DIR)/bids $(DEMO_DIR)/app group
	@echo "Synthetic cohort:  $(DEMO_DIR)/sourcedata  (MinIP preview: $(DEMO_DIR)/synth_minip.png)"
	@echo "BIDS dataset:      $(DEMO_DIR)/bids  (split file: code/scvbench/splits.json)"
	@echo "QC reports:        $(DEMO_DIR)/bids/derivatives/scvbench/sourcedata/qc/sub-*.html"
	@echo "Study statistics:  $(DEMO_DIR)/stats/report.html (reference masks of rater1)"
	@echo "Evaluations:       $(DEMO_DIR)/evaluation/<model>/{test,association}/report.html (power: association)"
	@echo "Demo leaderboard:  $(DEMO_DIR)/leaderboard/index.html (synthetic, $(DEMO_RECIPE) recipe)"
	@echo "BIDS-App reports:  $(DEMO_DIR)/app/group_report.html and $(DEMO_DIR)/app/sub-*.html"

# The demo's jobs that may run side by side (make demo runs them, after training).
demo-score-%:
	@echo "== $*: predict, evaluate"
	$(BIN)/scvbench predict $(DEMO_DIR)/bids --quiet \
		--checkpoint $(DEMO_DIR)/quick_runs/$*/model_best.pt --out $(DEMO_DIR)/quick_runs/$*/submission
	$(BIN)/scvbench evaluate $(DEMO_DIR)/quick_runs/$*/submission --reference $(DEMO_DIR)/bids \
		--split test --published paper --nprocs $(NPROCS) -o $(DEMO_DIR)/evaluation/$*/test
	$(BIN)/scvbench evaluate $(DEMO_DIR)/quick_runs/$*/submission --reference $(DEMO_DIR)/bids \
		--split association --published paper --nprocs $(NPROCS) --power \
		-o $(DEMO_DIR)/evaluation/$*/association

demo-app-participants:
	$(BIN)/scvbench run $(DEMO_DIR)/bids $(DEMO_DIR)/app participant --nprocs $(NPROCS) \
		--checkpoint $(DEMO_DIR)/quick_runs/unet/model_best.pt

test: $(STAMP) browser slurm
	$(BIN)/pytest -q

# Headless Chromium from Debian's packages, for the leaderboard page's test.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends chromium >/dev/null) || \
		echo "chromium could not be installed (needs root and Debian's apt): its test is skipped"

# Debian's SLURM daemons, for the test that runs `scvbench slurm` scripts on a local cluster.
slurm:
	@PATH="$$PATH:/usr/sbin" command -v slurmctld >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends slurmctld slurmd slurm-client >/dev/null) || \
		echo "SLURM could not be installed (needs root and Debian's apt): its test is skipped"

# The baselines' cards from quick runs on the demo cohort (run `make demo` first); the official
# cards in baselines/ come from `scvbench benchmark` (docs/benchmark.md).
baselines: $(STAMP)
	$(BIN)/scvbench baselines $(DEMO_DIR)/bids $(DEMO_DIR)/runs \
		frangi unet attention_unet deeplabv3plus --fold 0 --recipe cpu --out $(DEMO_DIR)/baselines

# The documentation site: the command reference regenerated, then MkDocs (Material) into site/.
docs: $(STAMP)
	$(BIN)/python docs/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/pytest benchmarks --benchmark-enable --benchmark-only -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The README's figures, from the DICOM of a small multi-site cohort at the study's resolution.
figure: $(STAMP)
	$(BIN)/scvbench synth $(DEMO_DIR)/figure --preset paper --subjects 4 --seed 3 --force \
		--sites siemens-3t,ge-3t,philips-1.5t
	$(BIN)/python -m scvbench.steps.synth.preview $(DEMO_DIR)/figure docs/synth_sites.png --sites 3
	$(BIN)/python -m scvbench.steps.synth.preview $(DEMO_DIR)/figure docs/synth_minip.png

clean:
	rm -rf $(VENV) $(DEMO_DIR) site .pytest_cache .ruff_cache
