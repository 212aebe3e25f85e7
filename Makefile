# Vanta — the two commands a newcomer needs are `make run` and `make test`.
# Everything else they need (Python venv with moto/SAM/cfn-lint, npm anvil) is installed here, locally.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PY        := $(VENV)/bin/python
PIP       := $(VENV)/bin/pip
# The stamp names the tool set: a venv from before veranta-sdk joined it reinstalls once.
TOOLS_OK  := $(VENV)/.tools-installed-2
NODE_OK   := node_modules/.tools-installed
export SAM_CLI_TELEMETRY := 0
export CARGO_TERM_COLOR ?= auto

# Pinned versions known to work offline with the registries only (see README, "Testing").
PY_TOOLS := 'moto[server]==5.2.5' 'cfn-lint==1.58.0' 'aws-sam-cli==1.170.0' 'veranta-sdk==2.2.0'

.PHONY: help run test test-rust structure smoke-run template-check tools node-tools browser fmt lint bench build-lambda clean
.PHONY: fuzz deploy set-webhook

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

run: ## Run the whole system locally (in-memory store, DRY mode, no AWS account)
	cargo run -p vanta-local

test: tools node-tools browser ## Run every test: unit, property, moto/anvil-backed integration, lint, template validation, run smoke
	@mkdir -p target
	@set -o pipefail; $(MAKE) --no-print-directory test-rust 2>&1 | tee target/test-rust.log
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory structure
	@$(MAKE) --no-print-directory template-check
	@$(MAKE) --no-print-directory smoke-run
	@awk '/^test result:/ {p+=$$4; f+=$$6; i+=$$8} END {printf "tests: %d passed, %d failed, %d skipped\n", p, f, i}' target/test-rust.log

test-rust:
	VANTA_MOTO_SERVER=$(CURDIR)/$(VENV)/bin/moto_server \
	VANTA_ANVIL=$(CURDIR)/node_modules/.bin/anvil \
	cargo test --workspace --tests --no-fail-fast

structure: ## Crate edges and module imports as ARCHITECTURE.md draws them (no AWS/Lambda in runtime or app, aws without chain, no import loop)
	@bash tests/support/check_edges.sh
	@bash tests/support/check_cycles.sh

smoke-run: ## Start the local runner as `make run` does and check that GET /healthz answers 200
	cargo build --quiet -p vanta-local
	@python3 tests/support/smoke_run.py target/debug/vanta-local

template-check: tools ## Validate template.yaml with sam validate --lint and cfn-lint
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --region us-east-1 --template-file template.yaml

tools: $(TOOLS_OK) ## Install the Python tools (moto, cfn-lint, SAM CLI, the official Veranta SDK) into .venv

$(TOOLS_OK):
	@command -v python3 >/dev/null || { echo "python3 is required (apt-get install python3)"; exit 1; }
	@python3 -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 venv module missing; installing python3-venv with apt-get"; \
	  (apt-get update -qq && apt-get install -y -qq python3-venv) && python3 -m venv $(VENV); }
	$(PIP) install --quiet --disable-pip-version-check $(PY_TOOLS)
	@touch $@

node-tools: $(NODE_OK) ## Install the npm tools (anvil, solc-js, playwright-core) into node_modules

$(NODE_OK): package.json
	@command -v npm >/dev/null || { echo "npm is required (apt-get install nodejs npm)"; exit 1; }
	npm install --no-audit --no-fund --silent
	@touch $@

browser: ## Install Chromium for the signing-page test (Debian package, only if /usr/bin/chromium is missing)
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium (apt-get) for the headless-browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

fmt: ## Format the code
	cargo fmt --all

lint: ## rustfmt check and clippy with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

build-lambda: tools ## Release-build every function as a Lambda bootstrap (x86_64; needs cargo-lambda)
	$(PIP) install --quiet --disable-pip-version-check 'cargo-lambda==1.9.2'
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH cargo lambda build --release $(FUNCTION_PKGS)

FUNCTION_PKGS := -p vanta-fn-webhook -p vanta-fn-telegram -p vanta-fn-signal-worker -p vanta-fn-tpsl -p vanta-fn-indexer -p vanta-fn-notifier
BENCH_PKGS := -p vanta-bench $(FUNCTION_PKGS)

bench: tools ## Measure ingest, worker, copy fan-out, TP/SL tick and cold starts against same-run baselines (release build; table + target/bench.json)
	cargo build --release $(BENCH_PKGS)
	VANTA_MOTO_SERVER=$(CURDIR)/$(VENV)/bin/moto_server timeout 900 target/release/vanta-bench --out target/bench.json

# Fuzzing on stable Rust: every parser that reads internet input, a million inputs per target
# (make test runs 20 000 per target through the vanta-fuzz crate's tests). FUZZ_ARGS passes
# options through, e.g. FUZZ_ARGS="--target signal-body --seed 7 --start 123 --inputs 1".
FUZZ_INPUTS ?= 1000000
FUZZ_ARGS ?=

fuzz: ## Fuzz the signal API, Telegram updates and buttons, venue answers and SSE, Pyth and Chainlink replies (table per target; fails on any panic)
	cargo build --release -p vanta-fuzz
	@mkdir -p target
	set -o pipefail; target/release/vanta-fuzz --inputs $(FUZZ_INPUTS) $(FUZZ_ARGS) | tee target/fuzz.txt

clean: ## Remove build output and local tools
	cargo clean
	rm -rf $(VENV) node_modules .aws-sam

# ---- Deploy: sam build (cargo-lambda, x86_64) + sam deploy with samconfig.toml -------------
# STACK and REGION override samconfig.toml's stack_name and region; PARAMS adds template
# parameters ("ExecutionMode=LIVE TableName=..."); parameters not given keep their deployed
# values. DEPLOY_FLAGS passes options to sam deploy (e.g. --no-confirm-changeset).
STACK ?=
REGION ?=
PARAMS ?=
DEPLOY_FLAGS ?=
SAM := $(CURDIR)/$(VENV)/bin/sam

deploy: tools ## Build every function with cargo-lambda (x86_64) and deploy STACK (samconfig.toml); PARAMS="K=V ..."
	$(PIP) install --quiet --disable-pip-version-check 'cargo-lambda==1.9.2'
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(SAM) build --config-file samconfig.toml --parameter-overrides Architecture=x86_64
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(SAM) deploy --config-file samconfig.toml \
	  $(if $(STACK),--stack-name $(STACK) --s3-prefix $(STACK)) $(if $(REGION),--region $(REGION)) \
	  --parameter-overrides Architecture=x86_64 $(PARAMS) $(DEPLOY_FLAGS)

set-webhook: ops-set-webhook ## Register STACK's Telegram webhook (its secret from SSM, the update types the bot handles)

# ---- Operations: vanta-ops against a deployed stack, with your AWS credentials (see RUNBOOK.md)
OPS = cargo run --quiet -p vanta-ops -- --stack $(STACK)
.PHONY: ops-stack ops-status preflight ops-stop ops-flatten ops-resume ops-dry ops-backup ops-set-webhook

ops-stack:
	@test -n "$(STACK)" || { echo "set STACK=<stack name>, e.g. make $(MAKECMDGOALS) STACK=vanta-prod"; exit 2; }

ops-status: ops-stack ## Exec mode, stop, live positions, scheduled runs and DLQs of STACK
	$(OPS) status

preflight: ops-stack ## The DRY->LIVE go/no-go table of STACK; fails on any NO-GO
	$(OPS) preflight

ops-stop: ops-stack ## Pull the emergency stop (PAUSE_ENTRIES) on STACK
	$(OPS) stop pause

ops-flatten: ops-stack ## Emergency stop FLATTEN on STACK: close every position
	$(OPS) stop flatten

ops-resume: ops-stack ## Release the stored emergency stop on STACK
	$(OPS) resume

ops-dry: ops-stack ## Store exec mode DRY on STACK (LIVE: vanta-ops exec-mode LIVE --yes)
	$(OPS) exec-mode DRY

ops-backup: ops-stack ## On-demand DynamoDB backup of STACK's table
	$(OPS) backup

ops-set-webhook: ops-stack ## Register STACK's Telegram webhook with its secret from SSM
	$(OPS) set-webhook
