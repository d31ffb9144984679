# Plain entry points. The README's two commands need only python3 and pip; these are shortcuts.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test test-fast export clean-nbs check-export bench ci

$(BIN)/graphlab: settings.ini setup.py requirements.lock
	python3 -m venv $(VENV)
	$(BIN)/pip install -q -c requirements.lock -e ".[dev]"
	touch $@

install: $(BIN)/graphlab            ## the environment, from the lock file

run: install                        ## the main job
	$(BIN)/graphlab study resolution --workers 2

test: install                       ## the whole suite: notebooks (slow cells too) and tests/
	OMP_NUM_THREADS=1 $(BIN)/nbdev_test --flags slow
	$(BIN)/pytest -q -n 3 --dist loadfile tests --durations=10

test-fast: install                  ## notebooks without slow cells
	$(BIN)/nbdev_test

export: install                     ## notebooks -> graphlab/, and strip notebook metadata
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean

check-export: install               ## fail if graphlab/ is not what nbdev_export makes of nbs/
	$(BIN)/nbdev_export
	git diff --exit-code -- graphlab
	test -z "$$(git status --porcelain --untracked-files=all -- graphlab)"

bench: install                      ## benchmarks (ratios against baselines measured in the same run)
	$(BIN)/python benchmarks/trainer_overhead.py

ci:                                 ## what CI runs, on a clean checkout
	bash .ci/run
