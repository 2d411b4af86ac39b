# The same targets run locally and in CI (.ci/run calls `make test`).
GO ?= go
# Packages that run goroutines get the race detector; run every package with it.
GOTEST_FLAGS ?= -race -count=1

.PHONY: run test test-go test-extension lint fuzz build help bench bench-go

help: ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## run the service on embedded defaults (127.0.0.1:8080, ./data)
	$(GO) run ./server

build: ## build the reportit binary into ./bin
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/reportit ./server

test: lint test-go test-extension ## every test: lint, Go (with -race), extension

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test-go: ## Go tests against real SQLite (and PostgreSQL/Redis where present)
	$(GO) test $(GOTEST_FLAGS) ./...

test-extension: ## extension build, lint (incl. web-ext), unit tests, and headless Chromium e2e against the real server
	cd extension && npm run build && npm run lint && npm test && npm run test:e2e

fuzz: ## run every fuzz target for FUZZTIME (default 30s) each
	@FUZZTIME=$${FUZZTIME:-30s}; \
	for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $$FUZZTIME $$pkg || exit 1; \
	  done; \
	done

bench: ## intake benchmark against a bare Gin baseline; BENCH_FLAGS e.g. "-duration 20s -profile prof"
	$(GO) run ./bench/cmd/reportit-bench $(BENCH_FLAGS)

bench-go: ## Go micro-benchmarks of the hot paths, with allocations
	@for pkg in ./internal/token ./internal/weburl ./internal/ratelimit ./internal/strictjson ./internal/clientip ./internal/sqlite ./bench/internal/mix; do \
	  $(GO) test -run '^$$' -bench . -benchmem $$pkg || exit 1; done
