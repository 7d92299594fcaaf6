# imgc: `make demo` builds imgc and an offline example image; `make test` runs every test.

GO       ?= go
BIN      := bin/imgc
CACHE    := $(CURDIR)/.cache
BASE     := $(CACHE)/base/busybox
PKGS_NEEDED := runc busybox-static

.PHONY: build test lint demo deps runc binfmt clean bench fuzz fuzz-short

VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/imgc

# RUNC_VERSION is the runc `make runc` builds into RUNC_BIN, the path imgc
# prefers to the runc on PATH (IMGC_RUNC overrides both): Debian 12's runc
# 1.1.5 follows a base image's /dev symlink onto the host (fixed in 1.3.6 and
# 1.4.3).
RUNC_VERSION := v1.4.4
RUNC_BIN     := /usr/local/libexec/imgc/runc

# deps installs what builds and tests need on a fresh Debian machine (as root):
# runc and busybox-static for real builds, qemu-user-static (registered with
# binfmt_misc by `make binfmt`) for run steps of foreign platforms, slirp4netns for run steps' private
# network, buildah for the Dockerfile fidelity tests that compare imgc's
# images with buildah's, libseccomp-dev, pkg-config and gcc to build the fixed
# runc that `make runc` puts in RUNC_BIN.
deps:
	@missing=""; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	[ -x /bin/busybox ] || missing="$$missing busybox-static"; \
	command -v slirp4netns >/dev/null || missing="$$missing slirp4netns"; \
	command -v buildah >/dev/null || missing="$$missing buildah"; \
	command -v gcc >/dev/null || missing="$$missing gcc"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	pkg-config --exists libseccomp 2>/dev/null || missing="$$missing libseccomp-dev"; \
	[ -x /usr/bin/qemu-aarch64-static ] || missing="$$missing qemu-user-static"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@$(MAKE) --no-print-directory runc binfmt

# binfmt registers QEMU (aarch64, arm) with binfmt_misc for foreign-platform
# run steps; idempotent.
binfmt:
	@./.ci/binfmt

# runc builds RUNC_VERSION from its source on the Go module proxy (with
# seccomp, as runc's own release build) into RUNC_BIN; it does nothing when
# that version is already there.
runc:
	@if "$(RUNC_BIN)" --version 2>/dev/null | grep -qx 'runc version $(RUNC_VERSION:v%=%)'; then exit 0; fi; \
	set -e; tmp="$$(mktemp -d)"; trap 'chmod -R u+w "$$tmp"; rm -rf "$$tmp"' EXIT; \
	src="$$(cd "$$tmp" && GOFLAGS= $(GO) mod download -json github.com/opencontainers/runc@$(RUNC_VERSION) | \
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p')"; \
	[ -n "$$src" ] || { echo "downloading runc $(RUNC_VERSION) failed" >&2; exit 1; }; \
	cp -r "$$src" "$$tmp/src"; chmod -R u+w "$$tmp/src"; \
	echo "building runc $(RUNC_VERSION) into $(RUNC_BIN)"; \
	(cd "$$tmp/src" && CGO_ENABLED=1 GOFLAGS=-mod=mod $(GO) build -trimpath -buildmode=pie \
		-tags "seccomp urfave_cli_no_docs" -ldflags "-X main.gitCommit=$(RUNC_VERSION)-module-proxy" -o "$$tmp/runc" .); \
	mkdir -p "$$(dirname "$(RUNC_BIN)")"; \
	install -m 0755 "$$tmp/runc" "$(RUNC_BIN).new"; mv -f "$(RUNC_BIN).new" "$(RUNC_BIN)"

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# test is the README's test command (and .ci/run's): lint, every fuzz target
# for a few seconds, then every test.
test: deps lint fuzz-short
	$(GO) test -count=1 -timeout 45m ./...

# fuzz runs every Fuzz* target for FUZZTIME each (make fuzz FUZZTIME=10m);
# fuzz-short is the CI run, a few seconds each. A crasher is left in the
# package's testdata/fuzz/ to commit with its fix.
FUZZTIME ?= 30s
fuzz:
	./.ci/fuzz $(FUZZTIME)

fuzz-short:
	FUZZMINIMIZETIME=1s ./.ci/fuzz 5s

# lint: gofmt, go vet, staticcheck and a tidy go.mod.
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) mod tidy -diff

$(BASE)/index.json:
	$(GO) run ./internal/cmd/mkbase $(BASE)

# demo: build the offline example, then run the image with runc.
demo: deps build $(BASE)/index.json
	$(BIN) build examples/hello --cache-dir $(CACHE)/imgc --output type=oci,dest=$(CACHE)/hello-oci
	$(BIN) plan examples/hello --cache-dir $(CACHE)/imgc
	$(BIN) run localhost/imgc-hello:latest --cache-dir $(CACHE)/imgc

bench: build
	./bench/run.sh

clean:
	rm -rf bin .cache
