# syncline developer entry points. Override GO or GOTESTFLAGS as needed, e.g.
#   make test GOTESTFLAGS='-run TestFoo -v'
GO          ?= go
GOTESTFLAGS ?=
PKGS        ?= ./...

.PHONY: all deps test vet build quickstart bench

all: build

# Installs missing system dependencies (PostgreSQL server binaries); needs
# root (or sudo) only when something is missing.
deps:
	bash scripts/install-deps.sh

vet:
	$(GO) vet $(PKGS)

test: deps
	$(GO) vet $(PKGS)
	$(GO) test -race -shuffle=on -timeout 30m $(GOTESTFLAGS) $(PKGS)

build:
	$(GO) build -o bin/syncline ./cmd/syncline

quickstart:
	bash scripts/quickstart.sh

bench:
	bash scripts/bench.sh
