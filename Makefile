# The index of everything a developer can do. `make help` lists it.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
SPEC := openapi.yaml
SWIFT_OUT := swift-client/Sources/SyncProxyClient/Generated

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## start the server on a local Postgres under .data/ (dev tenant + token printed)
	$(GO) run ./cmd/syncproxy dev

.PHONY: test
test: ## run every test: Go (real Postgres, real HTTP) and the Swift SDK against a live server
	scripts/test.sh

.PHONY: test-go
test-go: ## only the Go tests
	$(GO) test -count=1 ./...

.PHONY: test-swift
test-swift: ## only the Swift SDK: build, then XCTest against a live syncproxy
	scripts/test-swift.sh

.PHONY: generate
generate: ## regenerate gen/api, gen/db and the Swift SDK from openapi.yaml and the SQL
	@start=$$(date +%s); \
	echo "generate: sqlc (queries/ + migrations/ -> gen/db)"; $(GO) tool sqlc generate; \
	echo "generate: oapi-codegen ($(SPEC) -> gen/api)"; $(GO) tool oapi-codegen -config oapi-codegen.yaml $(SPEC); \
	echo "generate: swiftgen ($(SPEC) -> $(SWIFT_OUT))"; $(GO) run ./cmd/swiftgen -spec $(SPEC) -out $(SWIFT_OUT); \
	echo "generate: done in $$(( $$(date +%s) - start ))s"

.PHONY: build
build: ## build bin/syncproxy
	$(GO) build -o bin/syncproxy ./cmd/syncproxy

.PHONY: fmt
fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')
