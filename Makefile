# polyfeed quality gate. CI (.ci/run) runs `make lint`, `make test`, then `make test-full`.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
COUNT     ?= 1
SOAK_DURATION ?= 10m
SOAK_FLAGS    ?=

.PHONY: all build test test-full test-cluster test-short test-faults race vet lint fuzz soak bench bench-micro bench-publish bench-record bench-side profile clean

all: build test

build:
	$(GO) build -o bin/ ./cmd/...

vet:
	$(GO) vet $(PKGS)

# What CI runs. First every micro benchmark once (-benchtime 1x, so none rots; output shown
# only on failure) and the zero-allocation tests without the race detector (its sync.Pool
# drops items on purpose, so allocation counts are only meaningful in a normal build); then
# unit, integration (simulator on loopback), end-to-end and short fault tests, all under the
# race detector.
test: vet
	@out=$$($(GO) test -count=1 -run '^$$' -bench . -benchtime 1x ./ring ./fixed ./book ./engine/... ./internal/... ./stream/... ./cluster/... ./record/... ./replay/... 2>&1) || { echo "$$out"; exit 1; }
	@out=$$($(GO) test -short -count=1 -run '^$$' -bench . -benchtime 1x ./publish 2>&1) || { echo "$$out"; exit 1; }
	$(GO) test -short -count=1 -run 'Alloc' $(PKGS)
	$(GO) test -race -short -count=1 -timeout 15m $(PKGS)

race: test

# CI's second stage (.ci/run, after lint and test): what -short leaves out.
# Under the race detector: the full fault matrix (every ^TestFault case at full
# size, second and third simulator restarts, TestFaultAssetStall), the
# full-size pool cold start (20,000 assets, 100 sockets) and registry stress,
# the book's reference model over its full random run, and the whole-path
# benchmark test (simulator and engine over loopback). Without it: the ring's
# hammer and lost-wake-up tests, which skip under the race detector (it slows
# them past their point). Package patterns (./engine/...) and -run by test
# name keep working as the engine splits into sub-packages.
FULL_RACE_TESTS ?= ^(TestFault.*|TestPoolColdStart|TestRegistryStress|TestAgainstReference|TestWholePathDeliversSimulatorEvents)$$
FULL_TESTS      ?= ^(TestHammer|TestNoLostWakeup)$$
# the embedded stream on a full disk: a real tmpfs filled up (needs root to
# mount one; each test says why it skips otherwise)
DISK_TESTS      ?= ^(TestJetStreamComesBackAfterFullDisk|TestFullDisk)$$
test-full:
	$(GO) test -race -count=1 -timeout 20m -run '$(FULL_RACE_TESTS)' ./engine/... ./bench/...
	$(GO) test -count=1 -timeout 10m -run '$(FULL_TESTS)' ./ring/...
	$(GO) test -count=1 -timeout 10m -v -run '$(DISK_TESTS)' ./internal/natsd ./publish

# The cluster end to end (docs/CLUSTER.md): nats-server, polysim and three
# polyfeed processes; without the race detector, whose slowdown the failover
# time bounds would measure. 400 markets; CLUSTER_SHORT= runs 2,000. One
# test runs a 3-node NATS cluster and kills a node.
CLUSTER_SHORT ?= -short
test-cluster:
	$(GO) test $(CLUSTER_SHORT) -count=1 -timeout 20m -run '^TestCluster' -v ./cmd/polyfeed/

# gofmt, vet and staticcheck. staticcheck is built from the Go module proxy
# (pinned version, cached after the first run); when it cannot be fetched,
# lint fails rather than passing without it.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) run $(STATICCHECK) $(PKGS)

# Every fuzz target for FUZZTIME each (go test -fuzz takes one target at a time).
# A failing input is written by go test to the package's testdata/fuzz/FuzzX/;
# it then runs as a regression case in every `go test`, so commit it with the fix.
fuzz:
	@failed=""; for pkg in $$($(GO) list $(PKGS)); do \
		for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || failed="$$failed $$pkg:$$t"; \
		done; \
	done; \
	if [ -n "$$failed" ]; then \
		echo; echo "FUZZ FAILED:$$failed"; \
		echo "New crashers (commit them with the fix; they now run in every go test):"; \
		git status --porcelain --untracked-files=all -- '*testdata/fuzz/*'; \
		exit 1; \
	fi

# The fault matrix at full size (more markets and sockets, repeated rounds).
# `make test` runs the same cases in their -short form; `make test-full` runs
# this too.
test-faults:
	$(GO) test -race -count=1 -run '^TestFault' -timeout 20m ./engine/...

# Soak: the real polyfeed binary against polysim (separate processes on
# loopback) with churn and periodic faults; report and plot in bench/out/soak/.
# Longer runs: make soak SOAK_DURATION=1h, or SOAK_DURATION=24h (see bench/soak/doc.go).
# polyfeed is built a second time, with -tags soakstuck, so the soak can
# block one of its handlers on request (cmd/polyfeed/soakstuck.go); the
# normal bin/polyfeed is left as it is.
soak:
	$(GO) build -o bin/ ./cmd/polysim ./bench/cmd/polysoak
	$(GO) build -tags soakstuck -o bin/polyfeed-soakstuck ./cmd/polyfeed
	./bin/polysoak -duration $(SOAK_DURATION) -polyfeed ./bin/polyfeed-soakstuck -stuck-handler -polysim ./bin/polysim -out bench/out/soak $(SOAK_FLAGS)

# Micro benchmarks beside the code, each next to its baseline (ring vs channel,
# sonic vs encoding/json, worker-owned book vs mutex-guarded map, hot path by
# stage). BENCHOUT keeps the raw output for benchstat.
BENCHOUT  ?= bench/out/micro.txt
bench-micro:
	@mkdir -p $(dir $(BENCHOUT))
	uptime | tee $(BENCHOUT)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./ring ./fixed ./internal/wire ./book | tee -a $(BENCHOUT)
	$(GO) test -run '^$$' -bench 'HotPath|Inbound' -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./engine | tee -a $(BENCHOUT)

# Micro benchmarks (short, -count 5) and the end-to-end harness: report.txt,
# report.json and figures (SVG and PNG) under bench/out/. The gate
# (harness.GateRule) fails when p99 routing >= 1 ms or p99 processing >= 5 ms
# on any step with headroom: paced engine-alone steps offered at most a third
# of the run's own unpaced maximum, and every whole-path step; a saturated
# step is reported, not gated; a run that gates no step fails. A few
# minutes here (the harness alone took 53 s in PERFORMANCE.md's run). Then
# the publisher's, the recorder's (bench-record: recording overhead, bytes on
# disk and replay speed, each goal printed as met or NOT met) and the
# side-by-side benchmarks, each with its own report under bench/out/.
bench:
	$(MAKE) bench-micro BENCHTIME=200ms COUNT=5
	$(GO) run golang.org/x/perf/cmd/benchstat@latest $(BENCHOUT) > bench/out/micro.benchstat.txt || echo "benchstat unavailable; raw output in $(BENCHOUT)"
	$(GO) run ./bench/cmd/polybench -out bench/out
	$(MAKE) bench-publish
	$(MAKE) bench-record
	$(MAKE) bench-side

# Side by side at the venue's real rates (2,000 and 10,000 msg/s): the real polyfeed binary,
# a naive Go client and a floor client on one polysim, CPU per venue message, RSS, idle CPU,
# polyfeed's frame-to-handler latency and its books against the truth. Fails when polyfeed
# uses more than 0.6x the naive client's CPU per message at 2,000 msg/s, naming the figure.
# The table is not piped through tee: a pipe would hide polyside's exit status, and with it the gate.
bench-side:
	$(GO) build -o bin/ ./cmd/polyfeed ./cmd/polysim ./bench/cmd/polybaseline ./bench/cmd/polyside
	@mkdir -p bench/out
	./bin/polyside -out bench/out/sidebyside > bench/out/sidebyside.txt; s=$$?; cat bench/out/sidebyside.txt; exit $$s

# The stream publisher (publish/bench_test.go): its ceiling (events/s and CPU per event, file
# and memory storage), the process CPU per event at 2,000 events/s with publishing off and on
# (three passes over every mode, so each mode's figures interleave with the others' on a shared
# machine), and handler → reader latency at 2,000 and 10,000 events/s (the stream library's
# handler, and a core NATS subscriber). The load average is recorded before each part.
bench-publish:
	@mkdir -p bench/out
	(uptime; $(GO) version; grep -m1 'model name' /proc/cpuinfo) | tee bench/out/publish.txt
	$(GO) test -run '^$$' -bench 'PublishCeiling' -benchtime 100000x -count 3 ./publish | tee -a bench/out/publish.txt
	for i in 1 2 3; do uptime; $(GO) test -run '^$$' -bench 'PublishCPU' -benchtime 1x ./publish -args -publish.cpuwindow 5s || exit 1; done 2>&1 | tee -a bench/out/publish.txt
	uptime | tee -a bench/out/publish.txt
	$(GO) test -run '^$$' -bench 'PublishLatency' -benchtime 1x -count 3 ./publish | tee -a bench/out/publish.txt
	uptime | tee -a bench/out/publish.txt

# Recording (issue 16's goals, side by side in one run): two polyfeed processes on one
# polysim at 2,000 and then 10,000 msg/s, one with --record and one without, measured over
# the same windows (rounds swap which one records): CPU per venue message and the
# overhead, bytes on disk per venue message; then `polyfeed replay --speed max` of the
# 10,000 msg/s recording three times (events/s, events per CPU-second). Prints each goal
# as met or NOT met. First with publishing off in both processes (the engine alone, the
# strict comparison), then on (polyfeed's default: an in-process NATS server each). About
# 4½ minutes; report in bench/out/record.txt.
bench-record:
	$(GO) build -o bin/ ./cmd/polyfeed ./cmd/polysim ./bench/cmd/recbench
	@mkdir -p bench/out
	./bin/recbench -polyfeed ./bin/polyfeed -polysim ./bin/polysim | tee bench/out/record.txt
	@echo | tee -a bench/out/record.txt
	./bin/recbench -polyfeed ./bin/polyfeed -polysim ./bin/polysim -publish -replays 0 | tee -a bench/out/record.txt

# CPU, heap, allocs, block and mutex profiles of one engine-alone and one
# whole-path run, under bench/out/profiles/ (read with go tool pprof; see
# PERFORMANCE.md).
profile:
	$(GO) build -o bench/out/polybench ./bench/cmd/polybench
	bench/out/polybench -profile bench/out/profiles

clean:
	rm -rf bin bench/out
