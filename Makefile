# dockerbank: make build | test | bench | lint
GO ?= go
COMPOSE_VERSION := v5.6.0
LDFLAGS := -X github.com/dockerbank/dockerbank/internal/cli.Version=$(shell git describe --always --dirty 2>/dev/null || echo dev) \
	-X github.com/docker/compose/v5/internal.Version=$(COMPOSE_VERSION)

.PHONY: build test unit bench lint images engine clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/dockerbank ./cmd/dockerbank

# The whole suite: unit tests and integration tests on the real engine.
# With CI=true, integration tests fail instead of skipping when the engine
# or the local images are missing.
# The Swarm tests run alone, after the rest: `docker swarm init/leave`
# breaks the embedded DNS of compose containers running on the engine
# (Docker 20.10) until they restart; it broke other packages' tests that ran
# at the same time. Instances running on the engine need a restart afterwards.
test: build
	$(GO) test -count=1 -timeout 70m -skip '^TestSwarm' ./...
	$(GO) test -count=1 -timeout 10m -run '^TestSwarm' ./internal/deploy

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
