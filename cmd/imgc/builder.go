package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/buildkit"
	"github.com/imgc-dev/imgc/engine/local"
	"github.com/imgc-dev/imgc/store"
)

// builderFlags pick the engine: this machine (runc), or a buildkitd.
type builderFlags struct {
	Builder              string `placeholder:"ADDR" help:"Build on a buildkitd instead of this machine, at buildctl's address: unix:///run/buildkit/buildkitd.sock, tcp://HOST:PORT, docker-container://NAME, kube-pod://NAME (default: $IMGC_BUILDER)."`
	BuilderTLSCACert     string `name:"builder-tls-ca-cert" placeholder:"FILE" help:"CA certificate to verify a tcp:// builder with (buildctl's --tlscacert)."`
	BuilderTLSCert       string `name:"builder-tls-cert" placeholder:"FILE" help:"Client certificate for a tcp:// builder (buildctl's --tlscert)."`
	BuilderTLSKey        string `name:"builder-tls-key" placeholder:"FILE" help:"Client key for a tcp:// builder (buildctl's --tlskey)."`
	BuilderTLSServerName string `name:"builder-tls-server-name" placeholder:"NAME" help:"Server name to verify a tcp:// builder's certificate against (buildctl's --tlsservername)."`
}

// address is --builder, else $IMGC_BUILDER; empty means this machine.
func (f *builderFlags) address() string {
	if f.Builder != "" {
		return f.Builder
	}
	return os.Getenv("IMGC_BUILDER")
}

// engine is the engine the flags name.
func (f *builderFlags) engine(s *store.Store) engine.Engine {
	addr := f.address()
	if addr == "" {
		return local.New(s)
	}
	return buildkit.New(s, buildkit.Options{Addr: addr, CACert: f.BuilderTLSCACert, Cert: f.BuilderTLSCert,
		Key: f.BuilderTLSKey, ServerName: f.BuilderTLSServerName})
}

// reportBuilderError renders a builder that cannot build (unreachable, too
// old, refusing an entitlement) as a usage problem: exit 2.
func (e *env) reportBuilderError(err error) (error, bool) {
	var be *buildkit.BuilderError
	if !errors.As(err, &be) {
		return nil, false
	}
	detail := be.Detail
	if be.Err != nil {
		detail = fmt.Sprintf("%s\n\nThe builder said: %v", detail, be.Err)
	}
	_ = e.report(nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: fmt.Sprintf("Builder %s: %s", be.Addr, be.Summary), Detail: detail}})
	return exitError{exitBadInput}, true
}
