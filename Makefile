# The same targets run locally and in CI (.ci/run calls `make test`).
GO ?= go
# Packages that run goroutines get the race detector; run every package with it.
GOTEST_FLAGS ?= -race -count=1
# Release builds (and the Dockerfile) use this toolchain: go1.26.9 and .10 fix
# standard-library vulnerabilities that govulncheck finds in go1.26.8. The Go
# module proxy serves it; local development runs on any Go 1.26.
RELEASE_GO ?= go1.26.10

.PHONY: run test test-go test-extension lint vulncheck fuzz crash-full build help bench bench-postgres bench-go

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## run the service on embedded defaults (127.0.0.1:8080, ./data)
	$(GO) run ./server

build: ## build the reportit binary into ./bin
	GOTOOLCHAIN=$(RELEASE_GO) CGO_ENABLED=0 $(GO) build -trimpath -o bin/reportit ./server

test: lint vulncheck test-go test-extension ## every test: lint, govulncheck, Go (with -race), extension

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

vulncheck: ## govulncheck of the release build against a pinned snapshot of the Go vulnerability database (offline)
	GOTOOLCHAIN=$(RELEASE_GO) scripts/govulncheck.sh

test-go: ## Go tests against real SQLite (and PostgreSQL/Redis where present)
	$(GO) test $(GOTEST_FLAGS) ./...

test-extension: ## extension build, lint (incl. web-ext), unit tests, and headless Chromium e2e against the real server
	cd extension && npm run build && npm run lint && npm test && npm run test:e2e

crash-full: ## the full crash campaign: 200 SIGKILLs under load, then every acknowledged report checked
	REPORTIT_CRASH_KILLS=200 $(GO) test -run TestCrashCampaign -count=1 -timeout 30m -v ./server/

fuzz: ## run every fuzz target for FUZZTIME (default 30s) each
	@FUZZTIME=$${FUZZTIME:-30s}; \
	for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $$FUZZTIME $$pkg || exit 1; \
	  done; \
	done

bench: ## intake benchmark against a bare Gin baseline; BENCH_FLAGS e.g. "-duration 20s -profile prof"
	$(GO) run ./bench/cmd/reportit-bench $(BENCH_FLAGS)

bench-postgres: ## the same against PostgreSQL + Redis on this machine (a database and Redis db of its own), with the 100,000-report delivery drain
	$(GO) run ./bench/cmd/reportit-bench -mode postgres -delivery $(BENCH_FLAGS)

bench-go: ## Go micro-benchmarks of the hot paths, with allocations
	@for pkg in ./internal/token ./internal/weburl ./internal/ratelimit ./internal/strictjson ./internal/clientip ./internal/sqlite ./bench/internal/mix; do \
	  $(GO) test -run '^$$' -bench . -benchmem $$pkg || exit 1; done
