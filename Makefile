# musicsim-infra: every command a newcomer needs.
#
#   make demo   the whole site on a local Debian 13 container
#   make test   lint + unit tests + every Molecule scenario
#   make bench  how long site.yml takes here (rebuilds the demo container)
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

# Every scenario under molecule/. The whole-site scenarios (site, exposure,
# disaster-recovery) share one converged host in `make test`: the `demo`
# lane runs `make bench` and `make demo` as a newcomer does, then their
# checks on that host (tests/harness/demo-step.sh); `molecule test -s site`
# (or exposure, disaster-recovery) runs one of them through Molecule alone.
SITE_SCENARIOS := site exposure disaster-recovery upgrade
ROLE_SCENARIOS := $(filter-out $(SITE_SCENARIOS),$(notdir $(patsubst %/,%,$(dir $(wildcard molecule/*/molecule.yml)))))
# The unit tests (pytest) and the linters run beside them, as two more
# lanes. With several at a time, tests/harness/run-scenarios.sh starts the
# longest first (by their budgets), so none is left running alone at the end;
# in `make test`, the longest of those whose images are built.
SCENARIOS ?= demo pytest $(ROLE_SCENARIOS) lint
# Lanes run at a time, each scenario on its own test host. Two keep a
# 2-core machine busy: with three, every stage ran about 45% longer and the
# whole run took 63 minutes instead of 54.
export MUSICSIM_JOBS ?= 2

.PHONY: help venv lock docs engine image pi-image ubuntu-image docker-host-image images image-store lint unit molecule test demo demo-destroy bench clean

help:
	@echo "make demo          converge site.yml on a local Debian 13 container (inventories/local)"
	@echo "make demo-destroy  remove the demo container"
	@echo "make bench         time site.yml on a rebuilt demo host: first converge, re-run, check mode"
	@echo "make test          lint + pytest + every Molecule scenario"
	@echo "make lint | unit | molecule [SCENARIOS='host proxy']   one layer of the tests"
	@echo "make images        build the service images the tests use (tests/images/)"
	@echo "make image-store   load them once into the store new test hosts start from"
	@echo "make lock          resolve requirements.txt again into requirements.lock"
	@echo "make docs          write each role README's table of variables from its argument specs"

# --- Set-up ------------------------------------------------------------------
venv: $(VENV)/.installed

# Every package, the dependencies of dependencies too, at the version and
# with the hashes of requirements.lock: nothing floats, nothing is swapped.
$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements.lock
	touch $@

# After a change of requirements.txt (the packages the project asks for):
# resolve them again into requirements.lock, for every platform and Python
# 3.11 and later (a Pi, a laptop), with the hashes of every file.
# The versions already in the lock are kept unless requirements.txt asks
# for others (the lint lane checks that this changes nothing).
UV_VERSION := 0.13.9
LOCK ?= requirements.lock
lock: venv
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile requirements.txt --universal --python-version 3.11 \
	  --generate-hashes --index-url https://pypi.org/simple --quiet --no-header -o $(LOCK)

engine:
	tests/harness/docker-engine.sh

image: engine
	tests/harness/base-image.sh host

# Debian 12, the raspberry-pi scenario's host (Raspberry Pi OS bookworm
# without the Pi's own packages). MUSICSIM_ARCH=arm64 builds it for arm64,
# run through QEMU's emulator on an amd64 machine (see the README's Tests).
pi-image: engine
	tests/harness/base-image.sh bookworm

# Ubuntu 24.04, the ubuntu scenario's host, from Ubuntu's archive. That
# archive is not among the registries the test machines are promised: when
# it does not answer, the build says so (exit 3) and the scenario is skipped
# by name (.cache/skip/ubuntu), the rest of the suite runs.
ubuntu-image: engine
	@mkdir -p .cache/skip && rm -f .cache/skip/ubuntu
	tests/harness/base-image.sh noble || { rc=$$?; [ $$rc -eq 3 ] || exit $$rc; \
	  echo "Ubuntu's archive did not answer: no Ubuntu 24.04 host" > .cache/skip/ubuntu; }

# The test host image with Docker installed, where the scenarios whose role
# runs containers start (tests/harness/docker-host-image.sh).
docker-host-image: venv image
	tests/harness/docker-host-image.sh

# The service images tests run instead of the official ones (tests/images/).
# Their two slim bases, Debian 13 and 12, built at once (each waits on the
# mirror more than on a core).
images: venv engine
	tests/harness/base-image.sh service-bookworm & bookworm=$$!; \
	  tests/harness/base-image.sh service; rc=$$?; wait $$bookworm && [ $$rc -eq 0 ]
	tests/harness/build_images.py

# The service images loaded once into a store that new test hosts' engines
# start from (tests/harness/image-store.sh): each scenario's host and the
# demo's are filled in seconds instead of loading every image again. About
# 6 GB on this machine's disk, kept while the images are unchanged.
image-store: docker-host-image images
	tests/harness/image-store.sh build

# --- Docs --------------------------------------------------------------------
# Each role README's table of variables, between its BEGIN_ANSIBLE_DOCS and
# END_ANSIBLE_DOCS markers, written from meta/argument_specs.yml (aar-doc,
# .config/aar-doc/role-variables.md.j2). Run after changing a spec; the
# lint lane fails when a table is not current.
ROLES := $(notdir $(patsubst %/,%,$(wildcard roles/*/)))
docs: venv
	@for role in $(ROLES); do \
	  aar-doc --output-template .config/aar-doc/role-variables.md.j2 \
	    --output-file "$(or $(DOCS_DIR),$(CURDIR)/roles)/$$role/README.md" roles/$$role markdown; \
	done

# --- Tests -------------------------------------------------------------------
export MUSICSIM_STAGES ?= $(CURDIR)/.cache/stages.tsv
# What the tests measured against a goal (the auditors' findings), printed
# under the stages.
export MUSICSIM_FIGURES ?= $(dir $(MUSICSIM_STAGES))figures.tsv

# yamllint, ansible-lint (production profile), the syntax check of every
# playbook with every inventory, `make lock` and `make docs` changing
# nothing: the `lint` lane of `make test`.
lint: venv
	tests/harness/run-scenarios.sh lint

unit: venv image
	tests/harness/run-scenarios.sh pytest

molecule: venv docker-host-image images image-store $(if $(filter raspberry-pi,$(SCENARIOS)),pi-image) \
	  $(if $(filter ubuntu,$(SCENARIOS)),ubuntu-image)
	tests/harness/run-scenarios.sh $(SCENARIOS)

# The set-up (what `molecule` makes first) and every lane of SCENARIOS,
# each lane as soon as what it needs is made: the linters and the unit tests
# run while the images are built (tests/harness/suite.sh). Every lane runs
# even when another fails, then the table of stages against their budgets
# (tests/harness/stage-budgets.tsv).
KEEP_STAGES ?= 0
test:
	@[ "$(KEEP_STAGES)" = 1 ] || rm -f $(MUSICSIM_STAGES) $(MUSICSIM_FIGURES)
	@rc=0; tests/harness/suite.sh $(SCENARIOS) || rc=1; \
	  tests/harness/summary.sh || rc=1; exit $$rc

# --- Demo --------------------------------------------------------------------
# The demo host is prepared as the site scenario's test host is (Docker and
# the service images first: no registry; then Pebble, the ACME test server
# the proxy gets its certificates from), then site.yml converges it.
# DEMO_TIMER times site.yml alone (make bench sets it).
DEMO_TIMER ?=
demo: venv image images
	ansible-playbook playbooks/demo-host.yml
	ansible-playbook -i inventories/local tests/harness/prepare-site-host.yml
	$(DEMO_TIMER) ansible-playbook -i inventories/local site.yml
	ansible-playbook -i inventories/local playbooks/demo-report.yml

# site.yml's first converge, no-change re-run and check mode on a rebuilt
# demo host, with the task count: a benchmark, not a test.
bench: venv image images
	tests/harness/bench.sh

demo-destroy: venv
	ansible-playbook playbooks/demo-host.yml -e demo_host_state=absent

clean: demo-destroy
	rm -rf $(VENV)
