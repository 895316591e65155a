# syncline developer entry points. Override GO or GOTESTFLAGS as needed, e.g.
#   make test GOTESTFLAGS='-run TestFoo -v'
GO          ?= go
GOTESTFLAGS ?=
PKGS        ?= ./...

.PHONY: all deps test vet build quickstart bench crash

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

# The crash test at full length (see README "Crash test"): 100,000 operations,
# syncline killed with SIGKILL 10 times. CRASH_OPS / CRASH_KILLS override.
CRASH_OPS   ?= 100000
CRASH_KILLS ?= 10
crash: deps
	$(GO) test -run TestCrash -count=1 -v -timeout 60m ./internal/crashtest/ -args -ops=$(CRASH_OPS) -kills=$(CRASH_KILLS)
