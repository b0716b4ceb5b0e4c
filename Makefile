# kgbuild developer commands. `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= out/demo
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install lint lint-imports typecheck test test-unit test-install demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,accurate]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install kgbuild with its pinned dependencies

lint: install ## ruff lint and format check
	$(BIN)/ruff check kgbuild kgbuild_flows tests bench
	$(BIN)/ruff format --check kgbuild kgbuild_flows tests bench

lint-imports: install ## the import-layer contract (import-linter, [tool.importlinter] in pyproject.toml)
	$(BIN)/lint-imports

typecheck: install ## mypy --strict on the library and the flows
	$(BIN)/mypy kgbuild kgbuild_flows

test: lint lint-imports typecheck ## lint, check import layers, type-check, the whole test suite, the wheel check
	$(BIN)/python -m pytest
	.ci/install_check.sh $(BIN)/python

test-unit: install ## the fast unit tests: no JDK, PostgreSQL or Chromium, no slow-marked test
	$(BIN)/python -m pytest tests/unit -m "not slow"

test-install: install ## build the wheel, install it into a fresh venv, run `kgbuild build` on one file
	.ci/install_check.sh $(BIN)/python

demo: install ## build the graph of the example corpus into $(OUT) (NER, relations, attributes)
	KGBUILD_RELATIONS__ENABLED=true KGBUILD_ATTRIBUTES__ENABLED=true \
	  $(BIN)/kgbuild build examples/corpus --out $(OUT) --neo4j auto
	@echo "open $(OUT)/graph.html in a browser; GraphML: $(OUT)/graph.graphml; JSON: $(OUT)/graph.json"

bench: install ## run the benchmarks (minutes)
	$(BIN)/python bench/bench_ner.py
	$(BIN)/python bench/bench_resolve.py
	$(BIN)/python bench/bench_neo4j_write.py
	$(BIN)/python bench/bench_build.py --documents 0:100
	$(BIN)/python bench/bench_flow.py --docs 200
	$(BIN)/python bench/bench_ask.py examples
	$(BIN)/python bench/bench_ask.py redocred
	$(BIN)/python bench/bench_ask.py latency
	$(BIN)/python bench/report.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
