package buildkit

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/connhelper"
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer" // docker-container:// addresses
	_ "github.com/moby/buildkit/client/connhelper/kubepod"         // kube-pod:// addresses
	"github.com/sirupsen/logrus"
	"golang.org/x/mod/semver"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/store"
)

// MinVersion is the oldest buildkitd the engine builds on: it needs merge
// and diff ops, OCI layout sources from a session store, secrets as
// environment variables and rewrite-timestamp.
const MinVersion = "v0.13.0"

// Options say how to reach a buildkitd.
type Options struct {
	// Addr is buildctl's --addr: unix://PATH, tcp://HOST:PORT,
	// docker-container://NAME, kube-pod://NAME.
	Addr string
	// TLS files and the server name, as buildctl's --tlscacert, --tlscert,
	// --tlskey and --tlsservername.
	CACert, Cert, Key, ServerName string
}

// Engine builds plans on a buildkitd: it lowers each target to LLB, solves
// it there and imports the result into the store, where `imgc images`,
// `history`, `run` and `push` find it.
type Engine struct {
	s *store.Store
	o Options
}

var _ engine.Engine = (*Engine)(nil)

// New returns an engine that builds on the buildkitd o names and keeps
// the images it builds in s.
func New(s *store.Store, o Options) *Engine {
	// The client libraries log through logrus: warnings such as containerd's
	// "failed check for fsverity support" are not the user's concern.
	logrus.SetLevel(logrus.ErrorLevel)
	return &Engine{s: s, o: o}
}

// BuilderError is a builder that cannot build: unreachable, too old, or
// refusing an entitlement the plan needs. The CLI reports it as a usage
// problem (exit 2).
type BuilderError struct {
	Addr string
	// Summary says what is wrong; Detail how to fix it.
	Summary, Detail string
	Err             error
}

func (e *BuilderError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("builder %s: %s: %v", e.Addr, e.Summary, e.Err)
	}
	return fmt.Sprintf("builder %s: %s", e.Addr, e.Summary)
}

func (e *BuilderError) Unwrap() error { return e.Err }

// connect opens a client and checks that the daemon answers and is recent
// enough.
func (e *Engine) connect(ctx context.Context) (*client.Client, error) {
	var opts []client.ClientOpt
	if e.o.CACert != "" || e.o.ServerName != "" {
		opts = append(opts, client.WithServerConfig(e.o.ServerName, e.o.CACert))
	}
	if e.o.Cert != "" || e.o.Key != "" {
		if e.o.Cert == "" || e.o.Key == "" {
			return nil, &BuilderError{Addr: e.o.Addr, Summary: "incomplete TLS client credentials",
				Detail: "Give both --builder-tls-cert and --builder-tls-key, or neither."}
		}
		opts = append(opts, client.WithCredentials(e.o.Cert, e.o.Key))
	}
	for _, f := range []string{e.o.CACert, e.o.Cert, e.o.Key} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, &BuilderError{Addr: e.o.Addr, Summary: "cannot read a TLS file", Detail: "Check the --builder-tls-* paths.", Err: err}
		}
	}
	if err := checkAddress(e.o.Addr); err != nil {
		return nil, &BuilderError{Addr: e.o.Addr, Summary: "invalid builder address",
			Detail: "Give --builder as buildctl's --addr takes it: unix:///run/buildkit/buildkitd.sock, tcp://HOST:PORT, docker-container://NAME or kube-pod://NAME.", Err: err}
	}
	c, err := client.New(ctx, e.o.Addr, opts...)
	if err != nil {
		return nil, &BuilderError{Addr: e.o.Addr, Summary: "invalid builder address",
			Detail: "Give --builder as buildctl's --addr takes it: unix:///run/buildkit/buildkitd.sock, tcp://HOST:PORT, docker-container://NAME or kube-pod://NAME.", Err: err}
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := c.Info(ictx)
	if err != nil {
		c.Close()
		if strings.Contains(err.Error(), "Unimplemented") || strings.Contains(err.Error(), "unknown method") {
			return nil, &BuilderError{Addr: e.o.Addr, Summary: "the builder is too old",
				Detail: fmt.Sprintf("imgc needs buildkitd %s or newer (merge and diff ops, session OCI stores, secrets as environment variables, rewrite-timestamp). Upgrade the daemon, or build without --builder.", MinVersion), Err: err}
		}
		return nil, &BuilderError{Addr: e.o.Addr, Summary: "cannot reach the builder",
			Detail: "Check that buildkitd is running and listening at this address (`buildctl --addr ADDR debug workers` shows it), or build without --builder.", Err: err}
	}
	if err := checkVersion(info.BuildkitVersion.Version); err != nil {
		c.Close()
		return nil, &BuilderError{Addr: e.o.Addr, Summary: "the builder is too old", Detail: capitalize(err.Error()) + "."}
	}
	return c, nil
}

// checkAddress accepts the address forms buildctl takes: unix://, tcp://
// and the schemes of the connection helpers linked in.
func checkAddress(addr string) error {
	u, err := url.Parse(addr)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "unix", "tcp":
		return nil
	}
	h, err := connhelper.GetConnectionHelper(addr)
	if err != nil {
		return err
	}
	if h == nil {
		return fmt.Errorf("unknown scheme %q", u.Scheme)
	}
	return nil
}

// checkVersion refuses a daemon older than MinVersion. A version that is
// no semantic version (a development build) is trusted.
func checkVersion(v string) error {
	if !semver.IsValid(v) {
		return nil
	}
	if semver.Compare(semver.Canonical(v), MinVersion) < 0 {
		return fmt.Errorf("buildkitd %s lacks what imgc needs (merge and diff ops, session OCI stores, secrets as environment variables, rewrite-timestamp): upgrade it to %s or newer, or build without --builder", v, MinVersion)
	}
	return nil
}

// refused turns a daemon's refusal of an entitlement into a BuilderError.
func (e *Engine) refused(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "network.host is not allowed") || (strings.Contains(msg, "entitlement") && strings.Contains(msg, "network.host")) {
		return &BuilderError{Addr: e.o.Addr, Summary: "the builder refuses the network.host entitlement",
			Detail: "A step uses network = \"host\" and the daemon does not grant it. Start buildkitd with --allow-insecure-entitlement network.host (or list it in its config's insecure-entitlements), or drop the network setting.", Err: err}
	}
	if strings.Contains(msg, "security.insecure is not allowed") || (strings.Contains(msg, "entitlement") && strings.Contains(msg, "security.insecure")) {
		return &BuilderError{Addr: e.o.Addr, Summary: "the builder refuses the security.insecure entitlement",
			Detail: "A step uses security = \"insecure\" (RUN --security=insecure) and the daemon does not grant it. Start buildkitd with --allow-insecure-entitlement security.insecure (or list it in its config's insecure-entitlements), or drop the security setting.", Err: err}
	}
	if strings.Contains(msg, "requested by the build but not allowed") {
		return &BuilderError{Addr: e.o.Addr, Summary: "the builder refuses a CDI device without the device entitlement",
			Detail: fmt.Sprintf("A step names a CDI device (a device block, or RUN --device) that the daemon gives only with the %s entitlement (%s). Pass --allow %s (every device) or --allow %s=NAME, or drop the device.", engine.EntitlementDevice, lastLine(msg), engine.EntitlementDevice, engine.EntitlementDevice), Err: err}
	}
	return nil
}

// lastLine is what follows the last ": " of a daemon's error: its own words.
func lastLine(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// Explain tells, for each layer, whether the last build on this builder
// made or reused it (a hit: the builder's cache holds it, unless pruned
// since) and otherwise why not, from imgc's own keys and the last recorded
// build. A stage's layers the last build made (the record keeps only the
// images') hit too; a stage no missing layer reads is skipped, as the
// build skips it.
func (e *Engine) Explain(p *ir.Plan) map[ir.CacheKey]ir.Status {
	return e.explain(p, readRecord(e.s, e.o.Addr, p.Project), nil)
}

// ExplainFrom is Explain with the imported caches from (--cache-from): a
// layer whose key the blob map beside one of them lists (the layers of
// the images an imgc build exported there) is a hit naming that cache.
// It reads the maps and no layer. A cache without a map, or that cannot
// be read, is a warning.
func (e *Engine) ExplainFrom(ctx context.Context, p *ir.Plan, from []engine.CacheImport) (map[ir.CacheKey]ir.Status, []string) {
	var warnings []string
	if err := checkAddress(e.o.Addr); err != nil {
		warnings = append(warnings, fmt.Sprintf("the builder address %s is not one a build can use (%v): give it as buildctl's --addr takes it, unix:///PATH, tcp://HOST:PORT, docker-container://NAME or kube-pod://NAME", e.o.Addr, err))
	}
	imported := map[ir.CacheKey]string{}
	for _, c := range from {
		if c.Type != "registry" && c.Type != "local" && c.Type != "oci" {
			warnings = append(warnings, fmt.Sprintf("plan cannot tell what the cache %s holds (a build still imports it)", c))
			continue
		}
		bm, err := imageio.OpenBlobMap(ctx, c.Type, c.Location(), c.Attrs["tag"])
		if bm == nil {
			if cerr := imageio.CheckBuildKitCache(ctx, c.Type, c.Location(), c.Attrs["tag"]); cerr != nil {
				warnings = append(warnings, fmt.Sprintf("the cache %s cannot be read, so nothing is imported from it: %s", c, imageio.Sentence(cerr)))
			} else if err != nil {
				warnings = append(warnings, fmt.Sprintf("plan cannot tell what the cache %s holds (a build still imports it): its imgc blob map: %v", c, err))
			} else {
				warnings = append(warnings, fmt.Sprintf("plan cannot tell what the cache %s holds (a build still imports it): it has no imgc blob map beside it", c))
			}
			continue
		}
		for k := range bm.Keys() {
			if _, ok := imported[k]; !ok {
				imported[k] = c.String()
			}
		}
	}
	if _, err := os.Stat(recordPath(e.s, e.o.Addr, p.Project)); err != nil && len(imported) == 0 {
		warnings = append(warnings, fmt.Sprintf("imgc has no record of a build of this configuration on the builder %s, so plan shows its layers as misses: plan asks the builder nothing and reads what imgc's builds there recorded. Check the address; a first build there records it", e.o.Addr))
	}
	return e.explain(p, readRecord(e.s, e.o.Addr, p.Project), imported), warnings
}

// explain is plan's statuses of p's layers on the builder whose record
// rec is, with the layers imported caches hold.
func (e *Engine) explain(p *ir.Plan, rec *record, imported map[ir.CacheKey]string) map[ir.CacheKey]ir.Status {
	last := e.s.LastBuild(p.Project)
	forced := p.ForcedLayers()
	// hit is the status of a layer the builder has (its record, which
	// holds the stage layers it made too; an imported cache's map), if it
	// has it.
	hit := func(l *ir.Layer) (ir.Status, bool) {
		if l.NoCache || forced[l] != "" {
			return ir.Status{}, false
		}
		if lr, ok := rec.Layers[l.Key.String()]; ok {
			return ir.Status{Hit: true, Empty: lr.Empty}, true
		}
		if from, ok := imported[l.Key]; ok {
			return ir.Status{Hit: true, From: from}, true
		}
		return ir.Status{}, false
	}
	needed := p.NeededTargets(func(l *ir.Layer) bool {
		_, ok := hit(l)
		return !ok
	})
	out := map[ir.CacheKey]ir.Status{}
	for _, t := range p.Targets {
		if !needed[t.Name] {
			for _, l := range t.Layers {
				if st, ok := hit(l); ok {
					out[l.Key] = st
				} else {
					out[l.Key] = ir.Status{Reason: ir.SkippedStage, Skipped: true}
				}
			}
			continue
		}
		prev := last[store.RecordKey(t)]
		parentRebuilt := false
		for i, l := range t.Layers {
			if why := forced[l]; why != "" && !l.NoCache {
				out[l.Key] = ir.Status{Reason: why}
				parentRebuilt = true
				continue
			}
			if st, ok := hit(l); ok {
				out[l.Key] = st
				continue
			}
			var pl *ir.Layer
			if i < len(prev) {
				pl = prev[i]
			}
			for _, x := range prev {
				if x.Key == l.Key {
					pl = x
				}
			}
			out[l.Key] = ir.Status{Reason: ir.MissReasonIn(p, t, pl, l, parentRebuilt)}
			parentRebuilt = true
		}
	}
	return out
}

var errNoExport = errors.New("the builder exported no image")

// capitalize makes an error message a sentence's start.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
