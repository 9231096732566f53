# The index of everything a developer can do. `make help` lists it.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
SPEC := openapi.yaml
SWIFT_OUT := swift-client/Sources/SyncProxyClient/Generated
REGISTRY := server/syncstore/tables.gen.go
TABLE_TEMPLATE := queries/table.sql.tmpl
TABLE_SQL := gen/queries
FUZZTIME ?= 20s
MUTATE_FLAGS ?=
# The suites that run a second time behind PgBouncer (make test-pooler).
POOLER_PKGS := ./server/blackbox/ ./server/proof/ ./server/pgtx/ ./internal/pgcluster/
GOTESTFLAGS ?=

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## start the server on a local Postgres under .data/ (dev tenant + token printed)
	$(GO) run ./cmd/syncproxy dev

.PHONY: test
test: ## run every test: Go (real Postgres, real HTTP), the black-box suites again behind PgBouncer, and the Swift SDK against a live server
	scripts/test.sh

.PHONY: test-go
test-go: ## only the Go tests
	$(GO) test -count=1 ./...

.PHONY: test-pooler
test-pooler: ## the black-box suites again, with the server behind a real PgBouncer in transaction mode (needs pgbouncer)
	@command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || { \
		echo "test-pooler: FAIL: pgbouncer is not installed → apt-get install -y pgbouncer (Debian/Ubuntu, as root; .ci/run does it on CI) or brew install pgbouncer"; exit 1; }
	SYNC_TEST_POOLER=1 $(GO) test -count=1 $(GOTESTFLAGS) $(POOLER_PKGS)

.PHONY: test-swift
test-swift: ## only the Swift SDK: build, then XCTest against a live syncproxy
	scripts/test-swift.sh

.PHONY: fuzz
fuzz: ## fuzz the push decoding and validation path (FUZZTIME=20s)
	$(GO) test -run='^$$' -fuzz=FuzzPushDecodeValidate -fuzztime=$(FUZZTIME) ./server/proof

.PHONY: mutate
mutate: ## put each mutant of mutants.yaml into the code (go test -overlay), one at a time; the suite must fail on every one ("N of N caught"); MUTATE_FLAGS=-only REGEXP, -skip-baseline, -list
	$(GO) run ./cmd/mutate $(MUTATE_FLAGS)

.PHONY: bench
bench: ## measure push/pull/200 devices against raw Postgres, and devices before/after (BENCH_BASELINE rev), one run; writes bench/results.json (BENCH_ARGS=-quick: a smoke run)
	scripts/bench.sh $(BENCH_ARGS)

.PHONY: bench-go
bench-go: ## Go micro-benchmarks of the hot paths (validate + dedupe 1,000 rows, encode a 1,000-row page, the tenant lookup with and without a shared budget row, one rate budget exchange)
	$(GO) test -run='^$$' -bench=. -benchmem ./server/syncstore/ ./server/middleware/ ./server/ratebudget/

.PHONY: generate
generate: ## regenerate gen/queries, gen/db, gen/api, the table registry and the Swift SDK from openapi.yaml and the SQL
	@start=$$(date +%s); \
	echo "generate: tablegen ($(SPEC) + $(TABLE_TEMPLATE) -> $(TABLE_SQL)/, $(REGISTRY))"; $(GO) run ./cmd/tablegen -spec $(SPEC) -template $(TABLE_TEMPLATE) -sql-out $(TABLE_SQL) -out $(REGISTRY); \
	echo "generate: sqlc (queries/ + $(TABLE_SQL)/ + migrations/ -> gen/db)"; $(GO) tool sqlc generate; \
	echo "generate: oapi-codegen ($(SPEC) -> gen/api)"; $(GO) tool oapi-codegen -config oapi-codegen.yaml $(SPEC); \
	echo "generate: swiftgen ($(SPEC) -> $(SWIFT_OUT))"; $(GO) run ./cmd/swiftgen -spec $(SPEC) -out $(SWIFT_OUT); \
	echo "generate: done in $$(( $$(date +%s) - start ))s"

.PHONY: build
build: ## build bin/syncproxy
	$(GO) build -o bin/syncproxy ./cmd/syncproxy

.PHONY: fmt
fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

# ---- contract checks: openapi.yaml, migrations/, queries/, gen/ and the Swift
# SDK must never disagree silently. Each prints what it compared and a verdict.
CONTRACTCHECK := $(GO) run ./cmd/contractcheck
CHECKS := check-generated check-db check-breaking check-tenant check-distributable check-swift check-go

.PHONY: check $(CHECKS) baseline
check: ## every contract check (runs all, then fails if any failed); CI runs it before the tests
	@start=$$(date +%s); failed=""; \
	for c in $(CHECKS); do $(MAKE) --no-print-directory $$c || failed="$$failed $$c"; done; \
	if [ -n "$$failed" ]; then echo "check: FAIL:$$failed (see above; each says what to do) [$$(( $$(date +%s) - start ))s]"; exit 1; fi; \
	echo "check: OK ($(words $(CHECKS)) checks) [$$(( $$(date +%s) - start ))s]"

check-generated: ## gen/queries, gen/db, gen/api, the table registry and the Swift SDK equal a fresh tablegen + sqlc + oapi-codegen + swiftgen run
	@$(CONTRACTCHECK) generated -swift-out $(SWIFT_OUT) -registry $(REGISTRY) -template $(TABLE_TEMPLATE) -table-sql $(TABLE_SQL)

check-db: ## openapi.yaml's x-table schemas match the tables the migrations create (throwaway Postgres)
	@$(CONTRACTCHECK) db

check-breaking: ## openapi.yaml has no breaking change against api/baseline (oasdiff)
	@$(CONTRACTCHECK) breaking

check-tenant: ## every query on tenant data takes @contractor_id and filters or writes by it
	@$(CONTRACTCHECK) tenant

check-distributable: ## the schema and queries stay distributable by tenant: docs/citus.sql distributes every synced table by contractor_id, keys lead with it, foreign keys carry it, statements pin it, no sequences (throwaway Postgres)
	@$(CONTRACTCHECK) distributable

check-swift: ## the Swift SDK compiles (swift build in swift-client/)
	@echo "check swift: building swift-client/ with scripts/swift.sh build"; \
	start=$$(date +%s); log=$$(mktemp); \
	if scripts/swift.sh build >"$$log" 2>&1; then \
		rm -f "$$log"; echo "check swift: OK (swift build of swift-client) [$$(( $$(date +%s) - start ))s]"; \
	else \
		tail -n 40 "$$log" | sed 's/^/  /'; rm -f "$$log"; \
		echo "check swift: FAIL: swift build failed (log tail above) → run make check-generated first; if Generated/ is current, fix the hand-written Swift under swift-client/Sources"; exit 1; \
	fi

check-go: ## go vet ./... and gofmt are clean
	@echo "check go: go vet ./... and gofmt -l over the Go files in git, tracked and untracked (not under _ or . directories, which go ignores too)"; \
	start=$$(date +%s); \
	if ! $(GO) vet ./...; then echo "check go: FAIL: go vet found problems (above) → fix them"; exit 1; fi; \
	files=$$(git ls-files --cached --others --exclude-standard '*.go' | grep -Ev '(^|/)[._]' | while read -r f; do [ -f "$$f" ] && echo "$$f"; done); \
	unformatted=$$(gofmt -l $$files); \
	if [ -n "$$unformatted" ]; then echo "$$unformatted" | sed 's/^/  - /'; echo "check go: FAIL: files not gofmt-ed (above) → run make fmt"; exit 1; fi; \
	echo "check go: OK (go vet ./..., gofmt on $$(echo $$files | wc -w) files) [$$(( $$(date +%s) - start ))s]"

baseline: ## record openapi.yaml as the released contract api/baseline/openapi-v<major>.yaml (a release; a new major after a breaking change)
	@$(CONTRACTCHECK) baseline
