# `make run` and `make test` bootstrap everything they need on a fresh Debian/Ubuntu machine.
# The distribution's own Python when it is 3.11 or newer: Debian's and Ubuntu's are built with
# PGO and LTO and link libpython into the interpreter, and run novatui about a fifth faster
# than a plain source build such as pyenv's (bench/fleet.py at 1,000 instances, alternating:
# start 735 against 910 ms, `novatui server pause` 120 against 168 ms). Else python3 from PATH.
PYTHON ?= $(shell /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# Named after the interpreter, so that a venv made by another one is made anew.
STAMP  := $(VENV)/.installed$(subst /,-,$(PYTHON))
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast soak bench screenshots clean system-deps test-deps bytecode

run: bytecode
	$(VENV)/bin/novatui --config hosts.toml

test: bytecode test-deps
	$(PY) -m pytest

test-fast: bytecode
	$(PY) -m pytest -x -m "not real"

# core/ and tui/ compiled once, not at every start of a process: where the environment sets
# PYTHONDONTWRITEBYTECODE, each CLI call and console start compiled them anew (50 ms of a
# CLI call here). Files already compiled and unchanged are skipped.
bytecode: $(STAMP)
	@$(PY) -m compileall -q core tui

# The crash tier at length: every crash point several times, more operation variants, more
# hypothesis examples, 50 `--no-wait` handoff trials.
soak: $(STAMP)
	NOVATUI_SOAK=1 $(PY) -m pytest tests/crash

screenshots: $(STAMP)
	$(PY) scripts/screenshots.py

# The console at 1,000 and 5,000 instances in a real terminal (tmux), beside the floors
# (virsh for the CLI), then the engine's throughput, embedded and deployed (RabbitMQ and
# PostgreSQL from scripts/services, on the bench's own ports).
bench: bytecode
	@command -v tmux >/dev/null 2>&1 && command -v virsh >/dev/null 2>&1 || { \
	  echo "installing tmux and libvirt-clients for bench/fleet.py"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends tmux libvirt-clients; }
	$(PY) bench/fleet.py
	$(PY) bench/engine_ops.py
	$(PY) bench/deployment.py

# System packages the Python build needs: libvirt headers, pkg-config, a C compiler and the
# interpreter's own headers (libvirt-python is a source-only package on PyPI), and the venv
# module.
system-deps:
	@missing=""; \
	for p in libvirt-dev pkg-config; do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	$(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	  || missing="$$missing python3-dev"; \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The SSH tier starts its own sshd on 127.0.0.1: it needs the server installed.
test-deps:
	@command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || { \
	  echo "installing openssh-server for the SSH test tier"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends openssh-server openssh-client; }

$(STAMP): pyproject.toml | system-deps
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
