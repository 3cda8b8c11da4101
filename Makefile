# The two commands a newcomer needs:
#   make lab    build the local lab (13 systemd containers) and converge site.yml on it
#   make test   lint + unit tests + the Molecule scenarios (what CI runs; make test-all adds the cluster)
# Everything else here is a piece of those two.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON ?= python3
export PATH := $(abspath $(VENV))/bin:$(PATH)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

SCENARIO ?=
INVENTORY ?= inventory/lab

.PHONY: help venv prepare images lab lab-down endpoints lint unit test test-all bench readme clean drill-loadbalancer drill-backup drill-cluster

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

test-all: venv ## Everything, including the scenarios make test leaves out (the 13-host cluster)
	python -m lab test --all

bench: prepare ## Time the whole site's converge (fresh hosts, then nothing to do) on a lab of its own: reports/bench/converge.json
	python -m lab bench --compare-plain --compare-ssh
	python -m lab readme

readme: venv ## Rewrite the README's tables of measured figures from reports/
	python -m lab readme

drill-loadbalancer: venv ## The loadbalancer scenario with the full rolling deploy (the horilla role on each node)
	LB_DRILL_FULL_DEPLOY=1 python -m lab test --scenario loadbalancer

drill-backup: venv ## The backup scenario with the 1 GiB restore drill (reports/drills/backup-1gb.json)
	BACKUP_DRILL_MB=1024 molecule test -s backup

# Each stage of the cluster scenario on its own, so that timed.py can record the wall
# time of the cold create + converge and of the idempotent re-run in the drill report.
# The hosts stay up afterwards for a look around; `molecule destroy -s cluster` removes them.
drill-cluster: venv ## The 13-host cluster scenario, timed, with the SLA drill (reports/drills/cluster.json, .md)
	molecule destroy -s cluster
	python molecule/cluster/timed.py prepare -- python -m lab prepare
	python molecule/cluster/timed.py create -- molecule create -s cluster
	python molecule/cluster/timed.py converge_cold -- molecule converge -s cluster
	python molecule/cluster/timed.py idempotent_rerun -- molecule idempotence -s cluster
	molecule verify -s cluster

clean: lab-down ## Remove the lab, the lab state and the virtualenv
	rm -rf .lab $(VENV)
