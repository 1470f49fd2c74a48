# polyfeed quality gate. `make test` is what CI runs (.ci/run).
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
COUNT     ?= 1

.PHONY: all build test test-short race vet lint fuzz bench bench-micro clean

all: build test

build:
	$(GO) build -o bin/ ./cmd/...

vet:
	$(GO) vet $(PKGS)

# The zero-allocation tests without the race detector (its sync.Pool drops items on
# purpose, so allocation counts are only meaningful in a normal build), then unit,
# integration (simulator on loopback) and short fault tests, all under the race detector.
test: vet
	$(GO) test -short -count=1 -run 'Alloc' $(PKGS)
	$(GO) test -race -short -count=1 -timeout 15m $(PKGS)

race: test

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 -version >/dev/null 2>&1; then \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS); \
	else echo "staticcheck unavailable; gofmt and vet passed"; fi

# Every fuzz target for FUZZTIME each (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Micro benchmarks beside the code, each next to its baseline.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./ring ./engine/fixed ./internal/wire ./engine/book

bench: bench-micro

clean:
	rm -rf bin bench/out
