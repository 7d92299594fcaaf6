# imgc: `make demo` builds imgc and an offline example image; `make test` runs every test.

GO       ?= go
BIN      := bin/imgc
CACHE    := $(CURDIR)/.cache
BASE     := $(CACHE)/base/busybox

.PHONY: build test lint demo base deps deps-run runc binfmt buildkit frontend clean bench fuzz fuzz-short

VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/imgc

# RUNC_VERSION is the runc `make runc` builds into RUNC_BIN, the path imgc
# prefers to the runc on PATH (IMGC_RUNC overrides both): Debian 12's runc
# 1.1.5 follows a base image's /dev symlink onto the host (fixed in 1.3.6 and
# 1.4.3).
RUNC_VERSION := v1.4.4
RUNC_BIN     := /usr/local/libexec/imgc/runc

# deps-run installs what builds need on a fresh Debian machine (as root):
# runc and busybox-static for real builds, slirp4netns for run steps' private
# network, libseccomp-dev, pkg-config and gcc to build the fixed runc that
# `make runc` puts in RUNC_BIN, and git for git sources (ADD REPO.git, add { git }).
deps-run:
	@./.ci/apt-need runc busybox-static slirp4netns gcc pkg-config libseccomp-dev git
	@$(MAKE) --no-print-directory runc

# deps adds what the tests need: buildah, which the Dockerfile fidelity tests
# compare imgc's images with; docker-registry (distribution's registry, which
# the shared cache tests start on loopback themselves; its own service is
# disabled); qemu-user-static, registered with binfmt_misc by `make binfmt`,
# for foreign-platform run steps; buildkitd and buildctl (`make buildkit`) for
# the BuildKit engine's tests; openssh-client's ssh-agent and ssh-keygen for
# the tests of SSH agent forwarding (RUN --mount=type=ssh). git (deps-run)
# also serves the git:: module sources of lang's tests on loopback.
deps: deps-run
	@./.ci/apt-need buildah docker-registry qemu-user-static openssh-client
	@$(MAKE) --no-print-directory binfmt buildkit

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

# BUILDKIT_VERSION is the buildkitd and buildctl `make buildkit` builds into
# BUILDKIT_DIR, for the BuildKit engine's tests (which start their own
# daemon there; IMGC_BUILDKIT_BIN overrides the directory). It is the version
# go.mod pins for the client. `go install` cannot build them (buildkit's
# go.mod has exclude directives), so its module is copied and built as the
# main module, as ../shared/refenv/buildkit.sh does (about 6.5 minutes cold).
BUILDKIT_VERSION := v0.34.2
BUILDKIT_DIR     := /usr/local/libexec/imgc/buildkit

buildkit:
	@if "$(BUILDKIT_DIR)/buildkitd" --version 2>/dev/null | grep -q ' $(BUILDKIT_VERSION) ' && \
		"$(BUILDKIT_DIR)/buildctl" --version 2>/dev/null | grep -q ' $(BUILDKIT_VERSION) '; then exit 0; fi; \
	set -e; tmp="$$(mktemp -d)"; trap 'chmod -R u+w "$$tmp"; rm -rf "$$tmp"' EXIT; \
	src="$$(cd "$$tmp" && GOFLAGS= $(GO) mod download -json github.com/moby/buildkit@$(BUILDKIT_VERSION) | \
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p')"; \
	[ -n "$$src" ] || { echo "downloading buildkit $(BUILDKIT_VERSION) failed" >&2; exit 1; }; \
	cp -r "$$src" "$$tmp/src"; chmod -R u+w "$$tmp/src"; \
	echo "building buildkitd and buildctl $(BUILDKIT_VERSION) into $(BUILDKIT_DIR) (minutes)"; \
	mkdir -p "$$tmp/out" "$(BUILDKIT_DIR)"; \
	(cd "$$tmp/src" && GOFLAGS=-mod=mod $(GO) build -trimpath \
		-ldflags "-X github.com/moby/buildkit/version.Version=$(BUILDKIT_VERSION) -X github.com/moby/buildkit/version.Revision=module-proxy" \
		-o "$$tmp/out/" ./cmd/buildkitd ./cmd/buildctl); \
	for b in buildkitd buildctl; do install -m 0755 "$$tmp/out/$$b" "$(BUILDKIT_DIR)/$$b.new"; mv -f "$(BUILDKIT_DIR)/$$b.new" "$(BUILDKIT_DIR)/$$b"; done

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

# frontend builds imgc's BuildKit frontend image with imgc itself (FROM
# scratch, the static imgc-frontend binary, cross-compiled with GOOS/GOARCH
# for each of FRONTEND_PLATFORMS, OS/ARCH comma-separated) into an OCI
# layout, an index tagged latest: FRONTEND_OUT (default bin/frontend). See
# docs/buildkit.md.
FRONTEND_OUT ?= bin/frontend
FRONTEND_PLATFORMS ?= linux/amd64,linux/arm64

frontend: build
	rm -rf bin/frontend-root
	for p in $$(echo $(FRONTEND_PLATFORMS) | tr , ' '); do \
		os=$${p%%/*}; arch=$${p#*/}; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath \
			-o bin/frontend-root/$${os}_$${arch}/imgc-frontend ./cmd/imgc-frontend || exit 1; \
	done
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) \
		$(BIN) build frontend/frontend.image.hcl --platform $(FRONTEND_PLATFORMS) \
		--context bin/frontend-root --cache-dir $(CACHE)/imgc --output type=oci,dest=$(FRONTEND_OUT)

$(BASE)/index.json:
	$(GO) run ./internal/cmd/mkbase $(BASE)

# base makes the offline busybox base the examples build on.
base: $(BASE)/index.json

# demo: build the offline example, then run the image with runc.
demo: deps-run build $(BASE)/index.json
	$(BIN) build examples/hello --cache-dir $(CACHE)/imgc --output type=oci,dest=$(CACHE)/hello-oci
	$(BIN) plan examples/hello --cache-dir $(CACHE)/imgc
	$(BIN) run --cache-dir $(CACHE)/imgc localhost/imgc-hello:latest

bench: build
	./bench/run.sh

clean:
	rm -rf bin .cache
