# waggle.honeycomb developer entry points. `make demo` and `make test` work on a fresh machine:
# every tool they need is installed here or by .ci/run (system packages).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# ansible-core 2.21 needs a controller Python >= 3.12; pyenv provides one on these machines.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3 $(HOME)/.pyenv/versions/3.12*/bin/python3) $(shell command -v python3.13 python3.12 2>/dev/null))
# Waggle nodes run Python 3.6 and ansible-core 2.16 is the last core that drives 3.6 targets.
PYTHON_CORE216 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3 $(HOME)/.pyenv/versions/3.11*/bin/python3) $(shell command -v python3.11 2>/dev/null))
PYTHON_NODE36 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.6*/bin/python3))

VENV := .venv
VENV_CORE216 := .venv-core216
BUILD := .build
COLLECTIONS := $(CURDIR)/$(BUILD)/collections
STAMP := $(VENV)/.installed
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
PYTEST_ARGS ?=

.PHONY: help system-deps venv venv-core216 collection test units integration molecule py36 sanity lint changelog-lint demo demo-down bench faults soak clean

help:
	@echo "make demo    start an 8-node simulated fleet and run the example upgrade through its tunnels"
	@echo "make test    unit, integration, node-compatibility, ansible-test sanity and ansible-lint checks"
	@echo "make bench   fan-out benchmark against raw OpenSSH (writes docs/benchmarks.md; BENCH_LINK=lte: over a simfleet link profile)"
	@echo "make clean   remove the virtualenvs and build output"

$(STAMP): requirements.txt requirements-dev.txt tools/pyproject.toml
	@test -n "$(PYTHON)" || { echo "No Python >= 3.12 found: install one (pyenv install 3.13) or pass PYTHON=/path/to/python3.12"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	$(VENV)/bin/pip install -q -e tools/
	$(VENV)/bin/python -c 'import site,sys; open(site.getsitepackages()[0] + "/waggle_honeycomb_collection.pth", "w").write(sys.argv[1] + "\n")' "$(COLLECTIONS)"
	touch $@

# Debian packages the simulated fleet and the tests need (installs them as root, names them otherwise).
system-deps:
	@tools/system-deps.sh

venv: $(STAMP) collection

# Ansible finds the collection through a symlink named after its FQCN; ansible-test needs a real
# copy instead (see tools/ansible-test-sanity.sh).
collection:
	@mkdir -p $(COLLECTIONS)/ansible_collections/waggle
	@ln -sfn $(CURDIR) $(COLLECTIONS)/ansible_collections/waggle/honeycomb

$(VENV_CORE216)/.installed: requirements.txt
	@test -n "$(PYTHON_CORE216)" || { echo "No Python 3.11/3.12 for ansible-core 2.16"; exit 1; }
	$(PYTHON_CORE216) -m venv $(VENV_CORE216)
	$(VENV_CORE216)/bin/pip install -q 'ansible-core>=2.16,<2.17' -r requirements.txt
	touch $@

venv-core216: $(VENV_CORE216)/.installed collection

test: system-deps venv venv-core216
	$(VENV)/bin/python -m pytest tests/unit tests/integration tests/faults -m "not soak and not faults_full" \
	  -n 2 --dist loadfile --timeout 900 $(PYTEST_ARGS)
	$(MAKE) molecule py36 sanity lint changelog-lint

units: venv
	$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

integration: system-deps venv venv-core216
	$(VENV)/bin/python -m pytest tests/integration --timeout 900 $(PYTEST_ARGS)

# Molecule scenarios (extensions/molecule: camera, edgeswitch, node_prereqs, sanity, upgrade) against
# a 2-node simulated fleet reached through its tunnels; needs root like the fleet tests (docs/rollout.md).
molecule: system-deps venv
	cd $(CURDIR) && $(VENV)/bin/molecule test --all

# Node-side code must import and compile on the Python 3.6 of Ubuntu 18.04 nodes.
py36:
	@if [ -n "$(PYTHON_NODE36)" ]; then tools/check-node-python.sh "$(PYTHON_NODE36)"; \
	else echo "SKIPPED: no Python 3.6 found (pyenv install 3.6.15) - node compatibility not checked"; fi

sanity: venv
	tools/ansible-test-sanity.sh

lint: venv
	$(VENV)/bin/ansible-lint --profile production --offline

changelog-lint: venv
	$(VENV)/bin/antsibull-changelog lint

demo: system-deps venv
	tools/demo.sh

demo-down: venv
	$(VENV)/bin/simfleet down --purge

bench: system-deps venv
	$(VENV)/bin/python tools/bench/run.py $(if $(BENCH_LINK),--link $(BENCH_LINK))

# The whole fault-injection suite (docs/reliability.md); `make test` runs every fault in every phase.
# --dist loadfile in `make test` keeps each test file (and its module-scoped fleet) on one worker.
faults: system-deps venv
	$(VENV)/bin/python -m pytest tests/faults tests/integration/simfleet/test_transfer_link.py -m "not soak" \
	  -p no:xdist --timeout 3600 $(PYTEST_ARGS)

soak: venv
	$(VENV)/bin/python -m pytest tests/faults -k soak $(PYTEST_ARGS)

clean:
	-$(VENV)/bin/simfleet down 2>/dev/null
	rm -rf $(VENV) $(VENV_CORE216) $(BUILD) tests/output
