# make test         installs the test bed (Airflow 2.10 and 3.x) and runs every test, with a short fuzz run
# make test-short   the unit and HTTP tests and the fuzz seeds, without a real Airflow or other service
# make image        the container image holding the binary alone, as an OCI archive in dist/
# make demo         starts the gateway on 127.0.0.1:8080 against a local Airflow 3 with the example DAGs

GO ?= go
# The Go that builds, tests and checks everything: the go command fetches this release from the module
# proxy. It has the standard library's security fixes that govulncheck asks for (go.mod's toolchain line
# says the same to a go command that follows it).
GOTOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN
# Pinned analysers: staticcheck, govulncheck, and the Go vulnerability database as of a golang.org/x/vulndb
# module version (testbed/vulncheck.sh).
STATICCHECK = honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK_VERSION = v1.9.0
VULNDB_VERSION = v0.0.0-20261105234957-e22db6528018
# Each fuzz target runs a fixed number of inputs, not a fixed time: Go 1.26's fuzz coordinator can report
# "context deadline exceeded" as a failure when a -fuzztime duration ends while a worker is busy.
FUZZEXECS ?= 50000
FUZZ_TARGETS = commands:FuzzResolveLine commands:FuzzResolveArgv commands:FuzzSplitCommand commands:FuzzResolvePlugin \
	commands:FuzzCheckDAGFileName commands:FuzzDAGsOf commands:FuzzFilterListing commands/jobs:FuzzParseID commands/jobs:FuzzParseOffset config:FuzzParse \
	config:FuzzParseTokens config:FuzzParseUsers gateway:FuzzSessionCookie gateway:FuzzMintedToken gateway/restv1:FuzzTranslate \
	gateway/restv1:FuzzBack gateway/restscope:FuzzDecide

# The packages whose tests take minutes, mostly waiting on Airflow processes: they start first, three
# packages at a time, so that their waits overlap on a machine of two cores.
LONG_PACKAGES = ./commands/warm ./testbed/replicas ./cmd/airflow-gateway ./testbed/faults

# deploy/image, the program of make image, is a module of its own (go-containerregistry and its
# dependencies stay out of the gateway's module): ./... does not reach it, so each target names it.
IMAGE_MODULE = deploy/image

.PHONY: test test-short testbed check check-fast analyse fuzz demo build dist cross image chart-test

# The Helm chart's tests (deploy/chart/test): a Go module of its own, so that Helm and Kubernetes' API
# types stay out of the gateway's module; they lint and render the chart without a cluster, in seconds.
# Its kubelet package runs the rendered pods beside the test bed's Airflow and PostgreSQL (about a minute,
# as root): make test runs it beside the long packages, at a lower priority (it has minutes to spare while
# cmd/airflow-gateway runs), its output in test-output/kubelet.log.
CHART_TEST = deploy/chart/test

# setup.sh prints the env file naming the installed Airflows and schemathesis, chromium.sh the browser the
# admin page's tests drive, postgres.sh the PostgreSQL server's programs, debian.sh the load balancer in
# front of the replicas and the PgBouncer in front of PostgreSQL; the tests read them from the environment.
# Artifacts (the browser tests' screenshots) go to test-output/. The analysers of make check and the fuzz
# runs go on beside the tests, at a lower priority, in the cycles the tests leave idle while they wait on
# Airflow; their output comes after the tests'.
test: check-fast chart-test
	mkdir -p test-output
	envfile=$$(./testbed/setup.sh) && chromium=$$(./testbed/chromium.sh) && pgbin=$$(./testbed/postgres.sh) && \
	haproxy=$$(./testbed/debian.sh haproxy haproxy) && pgbouncer=$$(./testbed/debian.sh pgbouncer /usr/sbin/pgbouncer) && \
	./testbed/debian.sh jq jq >/dev/null && ./testbed/debian.sh curl curl >/dev/null && set -a && . "$$envfile" && AIRFLOW_GATEWAY_TEST_CHROMIUM=$$chromium && \
	AIRFLOW_GATEWAY_TEST_PG_BIN=$$pgbin && AIRFLOW_GATEWAY_TEST_HAPROXY=$$haproxy && AIRFLOW_GATEWAY_TEST_PGBOUNCER=$$pgbouncer && set +a && \
	{ nice -n 19 $(MAKE) --no-print-directory analyse fuzz > test-output/analyse-and-fuzz.log 2>&1 & beside=$$!; \
	  nice -n 10 $(GO) -C $(CHART_TEST) test -count=1 -timeout 20m -v ./kubelet > test-output/kubelet.log 2>&1 & kubelet=$$!; \
	  $(GO) test -count=1 -timeout 40m -p 3 -artifacts -outputdir=$(CURDIR)/test-output $(LONG_PACKAGES) ./...; tests=$$?; \
	  if wait $$kubelet; then grep -E '^(--- |    --- |ok )|^    kubelet_test' test-output/kubelet.log; else tests=1; cat test-output/kubelet.log; fi; \
	  $(GO) -C $(IMAGE_MODULE) test -count=1 ./... || tests=1; \
	  wait $$beside; besides=$$?; cat test-output/analyse-and-fuzz.log; \
	  [ $$besides = 0 ] || echo "staticcheck, govulncheck or a fuzz target failed: see above"; [ $$tests = 0 ] && [ $$besides = 0 ]; }

# -short skips every test that needs a real Airflow, Chromium, PostgreSQL, PgBouncer, haproxy or
# schemathesis, and says so; the fuzz targets run their seed corpora as tests.
test-short: check-fast chart-test
	$(GO) test -short -count=1 ./...
	$(GO) -C $(IMAGE_MODULE) test -short -count=1 ./...

chart-test:
	cd $(CHART_TEST) && $(GO) vet ./... && $(GO) mod verify && $(GO) test -count=1 . ./render

testbed:
	./testbed/setup.sh
	./testbed/chromium.sh
	./testbed/postgres.sh
	./testbed/debian.sh haproxy haproxy
	./testbed/debian.sh pgbouncer /usr/sbin/pgbouncer
	./testbed/debian.sh jq jq
	./testbed/debian.sh curl curl

# make check   formatting, go vet, go mod verify, the client's cross-builds, staticcheck and govulncheck
check: check-fast analyse

check-fast: cross
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt would change the files above"; exit 1; }
	$(GO) vet ./...
	$(GO) mod verify
	$(GO) -C $(IMAGE_MODULE) vet ./...
	$(GO) -C $(IMAGE_MODULE) mod verify

analyse:
	$(GO) run $(STATICCHECK) ./...
	$(GO) -C $(IMAGE_MODULE) run $(STATICCHECK) ./...
	$(GO) -C $(CHART_TEST) run $(STATICCHECK) ./...
	./testbed/vulncheck.sh $(GOVULNCHECK_VERSION) $(VULNDB_VERSION)
	./testbed/vulncheck.sh $(GOVULNCHECK_VERSION) $(VULNDB_VERSION) $(IMAGE_MODULE)

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in ./$${t%%:*}, $(FUZZEXECS) inputs"; \
		$(GO) test -run='^$$' -fuzz="^$${t#*:}\$$" -fuzztime=$(FUZZEXECS)x -fuzzminimizetime=2s ./$${t%%:*}; \
	done

COMMIT = $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo +changes)
STAMP = -X main.commit=$(COMMIT)

build:
	$(GO) build -ldflags "$(STAMP)" -o bin/airflow-gateway ./cmd/airflow-gateway

# The systems clients run on. The server runs on Linux; the other builds are the client (run, jobs,
# token create) and say so when asked to serve.
DIST_TARGETS = linux/amd64 linux/arm64 darwin/arm64 windows/amd64
VERSION ?= $(shell sed -n 's/^var version = "\(.*\)"/\1/p' cmd/airflow-gateway/main.go)

# make cross   checks that the client builds for every system of DIST_TARGETS (make check runs it)
cross:
	@set -e; for t in $(DIST_TARGETS); do \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o /dev/null ./cmd/airflow-gateway; echo "builds for $$t"; \
	done

# make dist    static binaries for DIST_TARGETS in dist/, with SHA256SUMS
dist:
	rm -rf dist && mkdir -p dist
	@set -e; for t in $(DIST_TARGETS); do \
		ext=""; [ "$${t%/*}" = windows ] && ext=.exe; \
		out=dist/airflow-gateway-$(VERSION)-$${t%/*}-$${t#*/}$$ext; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -trimpath -ldflags "-s -w $(STAMP)" -o $$out ./cmd/airflow-gateway; \
		echo "$$out"; \
	done
	cd dist && sha256sum airflow-gateway-* > SHA256SUMS

demo:
	./testbed/demo.sh

# make image   the container image: an OCI image archive (a tar of an OCI layout) holding the static binary
# alone, /airflow-gateway, run as 65532:65532, built with no registry and no container runtime; it prints
# the archive's path and the image's digest, which the same commit always gives (every time in it is the
# commit's). IMAGE_ARCH=arm64 builds for arm64. docs/image.md says how to push it and use it.
IMAGE_ARCH ?= amd64
IMAGE = dist/airflow-gateway-$(VERSION)-linux-$(IMAGE_ARCH).oci.tar

image:
	@$(GO) -C $(IMAGE_MODULE) build -o $(CURDIR)/bin/image .
	@SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct HEAD) bin/image -repo . -out $(IMAGE) \
		-arch $(IMAGE_ARCH) -version $(VERSION) -revision $$(git rev-parse HEAD) -commit $(COMMIT)
