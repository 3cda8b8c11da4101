# The two commands a newcomer needs:
#   make lab    build the local lab (13 systemd containers) and converge site.yml on it
#   make test   lint + unit tests + the Molecule scenarios, the whole site among them (what CI runs)
# Everything else here is a piece of those two.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
export PATH := $(abspath $(VENV))/bin:$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

SCENARIO ?=
INVENTORY ?= inventory/lab

.PHONY: help venv prepare images lab lab-down endpoints lint unit test test-all bench readme clean drill-backup drill-cluster

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed ## Create the virtualenv with Ansible, Molecule and the linters

prepare: venv ## Docker engine, host packages and base images (built only when their recipe changed)
	python -m lab prepare

images: venv ## Rebuild the base images if their recipe changed
	python -m lab images

lab: prepare ## Create the lab containers and converge site.yml on them, then print the endpoints
	ansible-playbook -i $(INVENTORY) lab/create.yml
	ansible-playbook -i $(INVENTORY) site.yml
	@python -m lab endpoints

lab-down: venv ## Remove the lab containers and network (images, caches and lab secrets stay)
	ansible-playbook -i $(INVENTORY) lab/destroy.yml

endpoints: venv ## Print where each lab service answers
	@python -m lab endpoints

lint: venv ## yamllint, ansible-lint (production profile), ruff
	python -m lab test --stage lint

unit: venv ## Python unit tests
	python -m lab test --stage unit

test: venv ## What CI runs: lint, unit tests and the Molecule scenarios (SCENARIO=name runs one)
	python -m lab test $(if $(SCENARIO),--scenario $(SCENARIO))

test-all: venv ## Everything make test runs, the cluster suite's operations, and the whole site on Debian 12
	python -m lab test --all

bench: prepare ## Time the whole site's converge (fresh hosts, then nothing to do) on a lab of its own: reports/bench/converge.json
	python -m lab bench --compare-plain --compare-ssh
	python -m lab readme

readme: venv ## Rewrite the README's tables of measured figures from reports/
	python -m lab readme

drill-backup: venv ## The whole site with the 1 GiB restore drill (reports/drills/backup-1gb.json)
	BACKUP_DRILL_MB=1024 LAB_CLUSTER_SUITE=full molecule test -s cluster

# The whole-site scenario stage by stage, leaving the hosts up for a look around
# (`molecule destroy -s cluster` removes them). Its verify writes reports/drills/cluster.json.
drill-cluster: venv ## The 14-host cluster scenario with every drill, hosts left up afterwards
	python -m lab prepare
	molecule destroy -s cluster
	molecule converge -s cluster
	molecule idempotence -s cluster
	LAB_CLUSTER_SUITE=full molecule verify -s cluster

clean: lab-down ## Remove the lab, the lab state and the virtualenv
	rm -rf .lab $(VENV)
