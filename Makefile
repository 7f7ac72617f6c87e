# The one test command is `make test`; CI runs it through .ci/run.
GO       ?= go
PKGS     ?= ./...
# Short fuzz runs keep the targets honest in CI; `make fuzz FUZZTIME=5m` digs deeper.
FUZZTIME ?= 10s

.PHONY: test deps build vet lint bench fuzz chaos clean

test: deps vet lint
	$(GO) test -race -count=1 -timeout 12m $(PKGS)

deps:
	@scripts/ensure-redis.sh

build:
	$(GO) build ./...

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# staticcheck, pinned so that a new release cannot fail an old commit.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) run $(STATICCHECK) ./...

# Benchmarks: real redis-server, no -race (it distorts timings). First the
# harness's table (cmd/cpbench: real processes, every figure beside its
# baseline and target; BENCH_ARGS passes flags, e.g. -duration 10s
# -profile prof), then the packages' Go benchmarks.
BENCH_ARGS ?=
bench: deps
	$(GO) run ./cmd/cpbench $(BENCH_ARGS)
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./store/... ./leases/... ./shards/... ./authz/ ./cmd/internal/devcluster/

# The chaos suite on real processes: every scenario (make test runs a short
# set). SOAK=30m repeats them for that long; the report, histories and any
# porcupine visualisation land in CHAOS_REPORT.
SOAK         ?= 0
CHAOS_REPORT ?= chaos-report
chaos: deps
	$(GO) test -race -count=1 -timeout 60m -run '^TestChaos$$' -v ./chaos/ \
	  -args -chaos.scenarios=all -chaos.soak=$(SOAK) -chaos.report=$(abspath $(CHAOS_REPORT))

# Every fuzz target, FUZZTIME each (go test fuzzes one target at a time).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf .cpgw-dev chaos-report
