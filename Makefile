# Baton: build, test and demo. Every target installs what it needs first (see `deps`).

SWIFT ?= swift
# Warnings are errors here, so that CI and a fresh clone see the same clean build.
SWIFT_FLAGS ?= -Xswiftc -warnings-as-errors

.PHONY: all build release test python-worker-test demo bench simulate screenshots deps test-deps python clean

# Installs the Debian packages a recipe found missing (in $$missing) when root can, or says how.
INSTALL_MISSING = if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "Baton needs:$$missing"; \
			echo "Install them with:  sudo apt-get install -y$$missing"; \
			exit 1; \
		fi; \
	fi

all: build

# libzmq and SQLite come from Debian's libzmq3-dev and libsqlite3-dev, time zones from tzdata. As root
# they are installed with apt-get; otherwise the exact command to run is printed.
deps:
	@command -v $(SWIFT) >/dev/null || { echo "Baton needs the Swift toolchain (6.1 or later): https://swift.org/install"; exit 1; }
	@missing=""; \
	pkg-config --exists libzmq 2>/dev/null || missing="$$missing libzmq3-dev"; \
	pkg-config --exists sqlite3 2>/dev/null || missing="$$missing libsqlite3-dev"; \
	[ -e "$${TZDIR:-/usr/share/zoneinfo}/Europe/London" ] || missing="$$missing tzdata"; \
	command -v pkg-config >/dev/null || missing="pkg-config libzmq3-dev libsqlite3-dev"; \
	python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3 python3-venv"; \
	$(INSTALL_MISSING)

# For the tests only: promtool (which checks every service's /metrics) from prometheus, and a headless
# browser for the dashboard from chromium and chromium-driver; installed the same way.
test-deps: deps
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	$(INSTALL_MISSING)

build: deps
	$(SWIFT) build $(SWIFT_FLAGS)

release: deps
	$(SWIFT) build -c release $(SWIFT_FLAGS)

# A Python with pyzmq, for the test of a worker written in Python from the protocol alone
# (examples/python/worker.py), and Selenium, which drives the browser that reads the dashboard
# (tools/web-test), in a virtual environment of its own.
PYTHON_VENV = .build/python
python: deps
	@$(PYTHON_VENV)/bin/python -c 'import zmq, selenium' 2>/dev/null || { \
		python3 -m venv $(PYTHON_VENV) && $(PYTHON_VENV)/bin/pip install --quiet --disable-pip-version-check pyzmq selenium; }

# The whole suite: unit tests of the core, real sockets, real SQLite files, real processes, a worker
# in Python written from the protocol alone, and the Python worker library (tools/python-worker) against real
# Baton processes, installed with pip into a virtual environment of its own (.build/python-worker).
test: test-deps python
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	BATON_TEST_PYTHON="$(CURDIR)/$(PYTHON_VENV)/bin/python" $(SWIFT) test --skip-build
	$(MAKE) --no-print-directory python-worker-test

# The Python worker library's tests alone, against the debug build.
python-worker-test: deps
	$(SWIFT) build $(SWIFT_FLAGS)
	PYTHON=python3 BATON="$$($(SWIFT) build --show-bin-path)/baton" tools/python-worker/tests/run

# An embedded Baton runs the example flow with live progress and a table of every job at the end.
demo: build
	$(SWIFT) run --skip-build baton demo

# Throughput and flow-step latency of a cluster of processes on 127.0.0.1, from a release build.
# BENCH_ARGS passes options to `baton bench` (see `baton bench --help`).
bench: release
	$(SWIFT) run --skip-build -c release baton bench $(BENCH_ARGS)

# The whole cluster in one thread and virtual time, with faults drawn from seeds, checking invariants
# (docs/testing.md): SEEDS seeds from SEED, or with SEED alone, that one seed replayed.
SEED ?= 1
SEEDS ?= $(if $(filter command line,$(origin SEED)),1,100)
simulate: release
	$(SWIFT) run --skip-build -c release baton simulate --seed $(SEED) --seeds $(SEEDS) $(SIMULATE_ARGS)

# The dashboard's screenshots in docs/images, taken by its browser test from the example flow.
screenshots: test-deps python
	$(SWIFT) build --build-tests $(SWIFT_FLAGS)
	BATON_TEST_PYTHON="$(CURDIR)/$(PYTHON_VENV)/bin/python" BATON_SCREENSHOTS="$(CURDIR)/docs/images" \
		$(SWIFT) test --skip-build --filter DashboardBrowserTests

clean:
	rm -rf .build
