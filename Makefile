# ocisource — build, lint, test, fuzz and benchmark.
#
#   make test    lint + every test (race detector on, real registry and cosign
#                required: OCISOURCE_INTEGRATION=1) + a short fuzz of every target
#   make lint    gofmt, go vet, staticcheck
#   make fuzz    a longer fuzz of every target (FUZZTIME=60s each)
#   make bench   the fetch benchmark (BENCH_FLAGS=...), then the fleet one (FLEET_FLAGS=...)
#   make tools   install the test tools into .cache/bin (skipped when present at the pinned version)
#
# Tools are built from source with `go install pkg@version`, which ignores this
# module's go.mod, so installing them never changes it.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

GO ?= go
TOOLS_DIR := $(CURDIR)/.cache/bin

REGISTRY_MOD    := github.com/distribution/distribution/v3
REGISTRY_PKG    := $(REGISTRY_MOD)/cmd/registry
REGISTRY_VER    := v3.1.2
COSIGN_MOD      := github.com/sigstore/cosign/v2
COSIGN_PKG      := $(COSIGN_MOD)/cmd/cosign
COSIGN_VER      := v2.6.5
# cosign v3 beside v2: both interop suites run. Installed as cosign3.
COSIGN3_MOD     := github.com/sigstore/cosign/v3
COSIGN3_PKG     := $(COSIGN3_MOD)/cmd/cosign
COSIGN3_VER     := v3.1.3
# The private Sigstore of internal/sigstorestack: Fulcio (ephemeral CA) and
# the timestamp authority (v2.1.4 and later need a newer Go than 1.25).
FULCIO_MOD      := github.com/sigstore/fulcio
FULCIO_PKG      := $(FULCIO_MOD)
FULCIO_VER      := v1.8.8
TSA_MOD         := github.com/sigstore/timestamp-authority/v2
TSA_PKG         := $(TSA_MOD)/cmd/timestamp-server
TSA_VER         := v2.1.3
HELM_MOD        := helm.sh/helm/v3
HELM_PKG        := $(HELM_MOD)/cmd/helm
HELM_VER        := v3.22.0
ORAS_MOD        := oras.land/oras
ORAS_PKG        := $(ORAS_MOD)/cmd/oras
ORAS_VER        := v1.3.6
STATICCHECK_MOD := honnef.co/go/tools
STATICCHECK_PKG := $(STATICCHECK_MOD)/cmd/staticcheck
STATICCHECK_VER := v0.8.2

# The real-registry harness (internal/realregistry) finds the tools here, and
# with OCISOURCE_INTEGRATION=1 a test that needs a missing tool fails instead
# of skipping.
export OCISOURCE_TOOLS := $(TOOLS_DIR)

# RACE=-race runs the whole suite under the race detector; `make test RACE=`
# turns it off. TEST_FLAGS adds go test flags (e.g. TEST_FLAGS='-run Fetch').
RACE         ?= -race
TEST_TIMEOUT ?= 20m
TEST_FLAGS   ?=
PKGS         ?= ./...
# Fuzz time per target: TEST_FUZZTIME in `make test`, FUZZTIME in `make fuzz`.
TEST_FUZZTIME ?= 10s
FUZZTIME      ?= 60s
BENCH_FLAGS   ?=

# The closing check that some integration test passed only makes sense for
# the full suite.
REQUIRE_INTEGRATION := $(if $(and $(filter ./...,$(PKGS)),$(if $(TEST_FLAGS),,yes)),-require-integration)

.NOTPARALLEL:
.PHONY: test lint fmt-check vet staticcheck unit fuzz-short fuzz bench tools clean-tools

test: tools lint unit fuzz-short
	@cat .cache/test-summary.txt

lint: fmt-check vet staticcheck

fmt-check:
	@echo "==> gofmt -l"
	@out=$$(find . -path ./.cache -prune -o -path ./.git -prune -o -name '*.go' -print | xargs -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt would change these files (run gofmt -w):"; echo "$$out"; exit 1; fi

vet:
	@echo "==> go vet $(PKGS)"
	$(GO) vet $(PKGS)

staticcheck: tools
	@echo "==> staticcheck $(STATICCHECK_VER) $(PKGS)"
	$(TOOLS_DIR)/staticcheck $(PKGS)

# Every test, with the real registry and cosign: a missing tool fails the run.
# testsum prints failures in full, each integration test's result, the skipped
# tests with their reasons, and a closing "tests: N passed, N failed, N skipped".
unit: tools
	@echo "==> go test $(RACE) $(PKGS) (OCISOURCE_INTEGRATION=1, tools in $(TOOLS_DIR))"
	@mkdir -p .cache
	@$(GO) build -o .cache/testsum ./internal/tools/testsum
	OCISOURCE_INTEGRATION=1 $(GO) test -json -count=1 $(RACE) -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(PKGS) 2>&1 \
		| .cache/testsum $(REQUIRE_INTEGRATION) -summary-file .cache/test-summary.txt

# fuzz_targets lists "<package> <FuzzName>" for every fuzz target, found by
# `go test -list` so new targets are picked up without editing this file.
define fuzz_all
	@targets=$$($(GO) test -list '^Fuzz' $(PKGS) | awk '/^Fuzz/ { names[n++] = $$1; next } /^ok / { for (i = 0; i < n; i++) print $$2, names[i]; n = 0 }'); \
	if [ -z "$$targets" ]; then echo "==> no fuzz targets found"; exit 0; fi; \
	while read -r pkg name; do \
		echo "==> fuzz $$pkg $$name for $(1)"; \
		internal/tools/fuzz-one.sh "$(GO)" "$$pkg" "$$name" $(1); \
	done <<< "$$targets"
endef

fuzz-short:
	$(call fuzz_all,$(TEST_FUZZTIME))

fuzz:
	$(call fuzz_all,$(FUZZTIME))

# The single-fetch benchmark, then the fleet one (FLEET_FLAGS, e.g.
# FLEET_FLAGS='-fleet 10000').
FLEET_FLAGS ?= -fleet 1000

bench:
	$(GO) run ./internal/bench $(BENCH_FLAGS)
	$(GO) run ./internal/bench $(FLEET_FLAGS)

# install_tool name,module,package,version: `go install` into TOOLS_DIR unless
# the binary there already records that module at that version (go version -m).
# The binary is built in a temporary GOBIN and moved to TOOLS_DIR/name, so a
# tool can be installed under another name than its package's (cosign v3 as
# cosign3 beside cosign v2), and an interrupted build leaves no half binary.
define install_tool
	@bin="$(TOOLS_DIR)/$(1)"; \
	if [ -x "$$bin" ] && $(GO) version -m "$$bin" 2>/dev/null | awk '$$1 == "mod" && $$2 == "$(2)" && $$3 == "$(4)" { found = 1 } END { exit !found }'; then \
		echo "==> tools: $(1) $(4) already in $(TOOLS_DIR)"; \
	else \
		echo "==> tools: go install $(3)@$(4) as $(1)"; \
		start=$$(date +%s); \
		tmp=$$(mktemp -d "$(TOOLS_DIR)/.install-$(1).XXXXXX"); \
		trap 'rm -rf "$$tmp"' EXIT; \
		GOBIN="$$tmp" $(GO) install "$(3)@$(4)"; \
		built=("$$tmp"/*); \
		if [ $${#built[@]} -ne 1 ] || [ ! -x "$${built[0]}" ]; then echo "go install $(3)@$(4) left $${built[*]} in $$tmp, want one binary" >&2; exit 1; fi; \
		mv -f "$${built[0]}" "$$bin"; \
		echo "==> tools: $(1) $(4) built in $$(( $$(date +%s) - start ))s"; \
	fi
endef

tools:
	@mkdir -p $(TOOLS_DIR)
	$(call install_tool,staticcheck,$(STATICCHECK_MOD),$(STATICCHECK_PKG),$(STATICCHECK_VER))
	$(call install_tool,registry,$(REGISTRY_MOD),$(REGISTRY_PKG),$(REGISTRY_VER))
	$(call install_tool,cosign,$(COSIGN_MOD),$(COSIGN_PKG),$(COSIGN_VER))
	$(call install_tool,cosign3,$(COSIGN3_MOD),$(COSIGN3_PKG),$(COSIGN3_VER))
	$(call install_tool,fulcio,$(FULCIO_MOD),$(FULCIO_PKG),$(FULCIO_VER))
	$(call install_tool,timestamp-server,$(TSA_MOD),$(TSA_PKG),$(TSA_VER))
	$(call install_tool,helm,$(HELM_MOD),$(HELM_PKG),$(HELM_VER))
	$(call install_tool,oras,$(ORAS_MOD),$(ORAS_PKG),$(ORAS_VER))

clean-tools:
	rm -rf $(TOOLS_DIR)
