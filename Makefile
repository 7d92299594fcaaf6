# imgc: `make demo` builds imgc and an offline example image; `make test` runs every test.

GO       ?= go
BIN      := bin/imgc
CACHE    := $(CURDIR)/.cache
BASE     := $(CACHE)/base/busybox
PKGS_NEEDED := runc busybox-static

.PHONY: build test lint demo deps clean bench fuzz fuzz-short

VERSION  := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/imgc

# deps installs what builds and tests need on a fresh Debian machine (as root):
# runc and busybox-static for real builds, buildah for the Dockerfile fidelity
# tests that compare imgc's images with buildah's.
deps:
	@missing=""; \
	command -v runc >/dev/null || missing="$$missing runc"; \
	[ -x /bin/busybox ] || missing="$$missing busybox-static"; \
	command -v buildah >/dev/null || missing="$$missing buildah"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: deps
	$(GO) test -count=1 -timeout 45m ./...

# fuzz runs every Fuzz* target for FUZZTIME each (make fuzz FUZZTIME=10m);
# fuzz-short is the CI run, a few seconds each. A crasher is left in the
# package's testdata/fuzz/ to commit with its fix.
FUZZTIME ?= 30s
fuzz:
	./.ci/fuzz $(FUZZTIME)

fuzz-short:
	FUZZMINIMIZETIME=1s ./.ci/fuzz 5s

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

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
