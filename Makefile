# The two commands a fresh machine needs (see README.md):
#   make demo   set up .venv and score the bundled example dump with the shipped default model
#   make test   set up .venv, build the offline base encoder, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BASE   := .cache/e5-small

.PHONY: setup base browser demo test bench clean

$(BIN)/notecheck: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[base,dev]'
	touch $@

setup: $(BIN)/notecheck

$(BASE)/convert_meta.json: | $(BIN)/notecheck
	$(BIN)/python -m training.base_e5 --out $(BASE)

base: $(BASE)/convert_meta.json

# Debian's headless Chromium for the browser tests (report rendering, reviewer console)
browser:
	bash scripts/ensure-chromium.sh >/dev/null

demo: setup
	$(BIN)/notecheck score examples/notes_crawler.jsonl -o out/demo.jsonl

test: setup base browser
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf out .pytest_cache
