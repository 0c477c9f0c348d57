# psfbench: the two commands are `make demo` and `make test`. Both bootstrap .venv from nothing
# and are idempotent (the venv is rebuilt only when pyproject.toml or constraints.txt change).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out

# Debian packages the firmware build and its simulator tests need (docs/firmware.md).
SYS_PKGS := gcc-avr binutils-avr avr-libc arduino-core-avr simavr libsimavr-dev libelf-dev doctest-dev g++ make
SYS_STAMP := $(VENV)/.sysdeps

.PHONY: all venv sysdeps demo test lint typecheck importlint pytest firmware benchmarks screenshots \
	installer installer-test clean

all: demo

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# System packages are installed with apt-get when missing (needs root, as in CI).
$(SYS_STAMP): | $(STAMP)
	@missing=""; for p in $(SYS_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "apt-get install:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "WARNING: missing system packages (install as root):$$missing"; fi; \
	fi
	@touch $(SYS_STAMP)

sysdeps: $(SYS_STAMP)

# With a display: the desktop application on the virtual bench (live view running). Without
# one (CI, ssh): says so and runs the headless demo (psfbench demo) instead.
demo: $(STAMP)
	$(PY) -m psfbench.app --demo --out $(OUT)/demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(PY) tools/package_view.py build/package-view
	MYPYPATH=build/package-view $(VENV)/bin/mypy -p psfbench.core

importlint: $(STAMP)
	$(PY) tools/package_view.py build/package-view
	cd build/package-view && PYTHONPATH=. $(abspath $(VENV))/bin/lint-imports --config $(CURDIR)/pyproject.toml

pytest: $(STAMP) $(SYS_STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

test: lint typecheck importlint pytest

firmware: $(SYS_STAMP)
	$(MAKE) -C firmware all

# PNGs of the main window in realistic states at 1920x1080 and 1366x768 (offscreen Qt, the
# virtual bench): docs/screenshots/. Open them and look before committing.
screenshots: $(STAMP)
	$(PY) -m psfbench.app.screenshots --out docs/screenshots

benchmarks: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

# Linux package (installer/README.md): the wheel installed into installer/build/site, the
# PyInstaller one-folder bundle installer/dist/psfbench/ (installer/psfbench.spec) and the .deb.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
INST_BUILD := installer/build
INST_DIST := installer/dist
DEB := $(INST_DIST)/psfbench_$(VERSION)_amd64.deb
INSTALLER_STAMP := $(VENV)/.installer

$(INSTALLER_STAMP): $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,installer]'
	@touch $(INSTALLER_STAMP)

installer: $(INSTALLER_STAMP) firmware
	rm -rf $(INST_BUILD)/wheel $(INST_BUILD)/site build/lib build/bdist.*  # no stale modules
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w $(INST_BUILD)/wheel .
	$(PY) -m pip install -q --no-deps --no-compile --target $(INST_BUILD)/site $(INST_BUILD)/wheel/psfbench-*.whl
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath $(INST_DIST) \
	  --workpath $(INST_BUILD)/work installer/psfbench.spec
	installer/linux/build_deb.sh $(INST_DIST)/psfbench $(VERSION) $(DEB)

# Installs the .deb into a clean temporary root and checks the installed copy (version, GUI
# self-test offscreen, psfbench demo, firmware + flashing helper, pylon transport layers).
installer-test: installer
	installer/linux/test_installed.sh $(DEB)

clean:
	rm -rf $(VENV) $(OUT) firmware/build .pytest_cache .mypy_cache .ruff_cache $(INST_BUILD) $(INST_DIST)
