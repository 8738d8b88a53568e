# dockerbank: make build | test | bench | lint
GO ?= go
COMPOSE_VERSION := v5.6.0
LDFLAGS := -X github.com/dockerbank/dockerbank/internal/cli.Version=$(shell git describe --always --dirty 2>/dev/null || echo dev) \
	-X github.com/docker/compose/v5/internal.Version=$(COMPOSE_VERSION)

.PHONY: build test unit bench lint images engine clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/dockerbank ./cmd/dockerbank

# The whole suite: unit tests and integration tests on the real engine, in
# one go test run. Tests that change engine-wide state (swarm init/leave, a
# second daemon) run on private engines of their own (internal/testenv), and
# every package that touches the engine checks that the containers running
# before the suite (a user's instances) are as healthy, and resolve their
# services' names, after it. With CI=true a missing prerequisite (engine,
# local images, chromium, root) fails its test; otherwise the test skips and
# the summary at the end lists it.
test: build
	@rm -f .test-missing; \
	DOCKERBANK_TEST_MISSING=$(CURDIR)/.test-missing DOCKERBANK_TEST_SINCE=$$(date +%s) \
		$(GO) test -count=1 -timeout 70m ./...; rc=$$?; \
	if [ -s .test-missing ]; then \
		echo "== prerequisites missing: these tests did not run (scripts/deps.sh and scripts/images.sh add them)"; \
		sort .test-missing; \
	fi; \
	rm -f .test-missing; exit $$rc

unit:
	$(GO) test -count=1 -short ./...

bench: build
	@for b in bench/*/run.sh; do echo "== $$b"; bash $$b || exit 1; done

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

images:
	scripts/images.sh

engine:
	scripts/engine.sh

clean:
	rm -rf bin
