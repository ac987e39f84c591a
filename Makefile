# make demo: set everything up and run the mirror on the embedded defaults.
# make test: set everything up and run the whole suite on every Python and Django of the matrix
# (noxfile.py: Python 3.11 with Django 5.2, Python 3.12 and 3.13 with the newest Django 6).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py

.PHONY: install test lint fmt typecheck demo bench os-packages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

# The origin test serves the mirror with a real nginx, the purge test puts a real Varnish
# in front of it; FAT (dosfstools) has no symlinks; the distributed tests start a PostgreSQL
# cluster of their own (initdb, from Debian's postgresql).
os-packages:
	@PATH="$$PATH:/usr/sbin:/sbin"; command -v nginx >/dev/null && command -v varnishd >/dev/null && command -v mkfs.vfat >/dev/null && command -v fusefat >/dev/null && { command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || ./.ci/install-os-packages

# One lane per entry of the matrix, the three side by side (much of our suite waits on
# processes and sockets, not the CPU): each runs our suite, then Django's contract suites,
# and its output is shown whole when it ends.
# NOX_ARGS='-s "tests-3.12(django=\'6\')"' runs one entry; tests/django_contract explains the contract.
test: install os-packages
ifdef NOX_ARGS
	$(BIN)/nox $(NOX_ARGS)
else
	$(BIN)/nox --install-only
	$(MAKE) --no-print-directory -j3 --output-sync=target test-lane-3.11 test-lane-3.12 test-lane-3.13
endif

# Each session's virtualenv is built above, one at a time (editable installs of this
# project must not race); the lanes then reuse them.
.PHONY: test-lane-3.11 test-lane-3.12 test-lane-3.13
test-lane-3.11:
	$(BIN)/nox --no-install -s "tests(python='3.11', django='5.2')" "contract(python='3.11', django='5.2')"
test-lane-3.12:
	$(BIN)/nox --no-install -s "tests(python='3.12', django='6')" "contract(python='3.12', django='6')"
test-lane-3.13:
	$(BIN)/nox --no-install -s "tests(python='3.13', django='6')" "contract(python='3.13', django='6')"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy

demo: install
	rm -rf var && mkdir -p var/media var/static
	$(MANAGE) migrate --noinput -v 0
	$(MANAGE) makesamples
	mkdir -p var/media/uploads && echo "an old upload" > var/media/uploads/old.pdf
	$(MANAGE) collectstatic --noinput -v 0
	@echo "--- collectmirror (first run)"
	$(MANAGE) collectmirror --delete --changed-urls var/changed-urls.txt
	@echo "--- collectmirror (refresh: nothing changed)"
	$(MANAGE) collectmirror --delete
	@echo "--- a source changes: one upload deleted, one photo added; refresh and list the URLs to purge"
	rm var/media/uploads/old.pdf
	echo "a new photo" > var/media/photos/new.jpg
	$(MANAGE) collectmirror --delete -v 2 --changed-urls var/changed-urls.txt | grep -v "not modified"
	cat var/changed-urls.txt
	@echo "--- verifymirror"
	$(MANAGE) verifymirror
	@echo "--- verifymirror --distributed (TASKS' immediate backend runs each shard here; README, Many hosts)"
	$(MANAGE) verifymirror --distributed --shards 4
	@echo "--- the mirror (var/mirror), first entries:"
	@cd var/mirror && find . -path ./static/admin -prune -o -name .symlinkmirror.lock -prune -o \( -type l -printf '%p -> %l\n' \) -o \( -type f -printf '%p (copy)\n' \) | sort | head -20

# BENCH_ARGS=--quick for a short run; see bench/run.py --help.
bench: install
	@command -v rsync >/dev/null || ./.ci/install-os-packages rsync
	@$(BIN)/python -c "import matplotlib" 2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf var $(VENV) .nox .cache
