# musicsim-infra: every command a newcomer needs.
#
#   make demo   the whole site on a local Debian 13 container
#   make test   lint + unit tests + every Molecule scenario
#
# Both set up what they need first (a virtualenv with the pinned toolchain,
# a Docker engine, the Debian 13 test image); both need root on Debian/Ubuntu.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PYTHON ?= python3
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
export NO_COLOR ?= 1

# Every scenario under molecule/.
SITE_SCENARIOS := disaster-recovery site exposure
ROLE_SCENARIOS := $(filter-out $(SITE_SCENARIOS),$(notdir $(patsubst %/,%,$(dir $(wildcard molecule/*/molecule.yml)))))
# The longest first: with several at a time, none is left running alone at the end.
SCENARIOS ?= $(SITE_SCENARIOS) $(ROLE_SCENARIOS)
# Scenarios run at a time, each on its own test host (2 fit a 2-core machine).
export MUSICSIM_JOBS ?= 2

.PHONY: help venv engine image images lint unit molecule test demo demo-destroy clean

help:
	@echo "make demo          converge site.yml on a local Debian 13 container (inventories/local)"
	@echo "make demo-destroy  remove the demo container"
	@echo "make test          lint + pytest + every Molecule scenario"
	@echo "make lint | unit | molecule [SCENARIOS='base docker']   one layer of the tests"
	@echo "make images        build the service images the tests use (tests/images/)"

# --- Set-up ------------------------------------------------------------------
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

engine:
	tests/harness/docker-engine.sh

image: engine
	tests/harness/base-image.sh host

# The service images tests run instead of the official ones (tests/images/).
images: venv engine
	tests/harness/base-image.sh service
	tests/harness/build_images.py

# --- Tests -------------------------------------------------------------------
STAGE := tests/harness/stage.sh
export MUSICSIM_STAGES ?= $(CURDIR)/.cache/stages.tsv

lint: venv
	$(STAGE) yamllint yamllint --strict .
	$(STAGE) ansible-lint ansible-lint --profile production
	$(STAGE) syntax-check tests/harness/syntax-check.sh

unit: venv image
	$(STAGE) pytest pytest -q tests

molecule: venv image images
	tests/harness/run-scenarios.sh $(SCENARIOS)

# Every layer runs even when an earlier one fails, then the table of stages.
KEEP_STAGES ?= 0
test:
	@[ "$(KEEP_STAGES)" = 1 ] || rm -f $(MUSICSIM_STAGES)
	@rc=0; $(MAKE) --no-print-directory -k lint unit molecule || rc=1; \
	  tests/harness/summary.sh || rc=1; exit $$rc

# --- Demo --------------------------------------------------------------------
demo: venv image images
	ansible-playbook playbooks/demo-host.yml
	ansible-playbook -i inventories/local tests/harness/prepare-test-host.yml
	ansible-playbook -i inventories/local playbooks/host.yml
	ansible-playbook -i inventories/local tests/harness/load-images.yml
	ansible-playbook -i inventories/local site.yml
	ansible-playbook -i inventories/local playbooks/demo-report.yml

demo-destroy: venv
	ansible-playbook playbooks/demo-host.yml -e demo_host_state=absent

clean: demo-destroy
	rm -rf $(VENV)
