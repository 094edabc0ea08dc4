# Two entry points for a fresh machine with python3 and make:
#   make build   installs policygen and renders policies/ from policygen.yaml
#   make test    installs the dev tools and runs lint, types and tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: build test quick lint golden bench clean reliability upstream-kyverno upstream-gatekeeper

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	# The real OPA engine declares Python >= 3.14 but works on 3.11.
	$(BIN)/python -m pip install -q --ignore-requires-python 'opa-golib-python-bindings>=0.4.4'
	touch $(STAMP)

build: $(STAMP)
	$(BIN)/policygen build

lint: $(STAMP)
	$(BIN)/ruff check policygen tests bench scripts
	$(BIN)/ruff format --check policygen tests bench scripts
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# The inner loop (about a minute on a quiet machine): lint, types, and the
# tests of the pure parts (config, image references, model, formats,
# targets' rendering, Rego reading); engines, suites and the CLI are left
# to make test. Stops at the first failure.
QUICK := tests/test_config.py tests/test_imageref.py tests/test_model.py \
	tests/test_agreement.py tests/test_overlap.py tests/test_pathfilter.py \
	tests/test_kubeyaml.py tests/test_yamlsafe.py tests/test_manifests.py \
	tests/test_memo.py tests/test_atomic.py tests/test_explain.py \
	tests/test_isolation.py tests/test_crosswalk.py tests/test_node.py \
	tests/test_pin_files.py tests/formatters/test_table.py \
	tests/targets/test_common.py tests/targets/test_capabilities.py \
	tests/rego/test_v0.py tests/rego/test_faults.py
quick: lint
	$(BIN)/pytest -x -q $(QUICK) \
	  --deselect tests/formatters/test_table.py::test_every_line_of_the_corpus_fits_80_columns_but_unbreakable_words \
	  --deselect tests/targets/test_capabilities.py::test_inner_globs_agree_with_the_model_where_newly_accepted

# Refresh tests/golden/ after an intended rendering change; review the diff.
golden: $(STAMP)
	$(BIN)/python -m tests.golden
	$(BIN)/policygen build

clean:
	rm -rf $(VENV)

# Throughput per engine against the YAML parse floor of the same corpus,
# config work at 10 and 1,000 tenants, policygen test warm; each beside its goal.
bench: $(STAMP)
	$(BIN)/python bench/scan.py --sizes 10000,100000
	$(BIN)/python bench/config.py --tenants 10,1000
	$(BIN)/python bench/prove.py

# kyverno/policies' own kyverno-test.yaml files through policygen kyverno test,
# each folder classified pass / wrong / refused / crash (minutes; not in CI):
#   make upstream-kyverno UPSTREAM=/path/to/kyverno-policies
upstream-kyverno: $(STAMP)
	$(BIN)/python scripts/upstream_kyverno.py $(UPSTREAM)

# Kills, floods, full and read-only file systems (tmpfs: needs root), the
# registry deadline; prints how many checks held. The fast part runs in test.
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability --slow

# gatekeeper-library's own gator suites, every Rego engine, both gator modes
# (minutes; not in CI): make upstream-gatekeeper UPSTREAM=path/to/gatekeeper-library
upstream-gatekeeper: $(STAMP)
	$(BIN)/python scripts/upstream_gatekeeper.py $(UPSTREAM)
