package buildkit

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth"
	"google.golang.org/grpc"

	"github.com/imgc-dev/imgc/imageio"
	"github.com/imgc-dev/imgc/ir"
)

// reach remembers, per pinned reference and platform, whether the daemon
// can pull a registry base itself; shared by the platforms of one build.
type reach struct {
	mu sync.Mutex
	ok map[string]bool
}

// authServer lends the daemon the user's registry credentials, from the
// keychain imgc pulls with (the Docker config and its credential helpers):
// the daemon asks for a host's, and fetches its tokens itself. It answers
// only for the hosts of this build's registry bases and registry caches
// (allow); any other host gets no credentials, so a shared or remote
// daemon cannot collect the user's other logins.
type authServer struct {
	auth.UnimplementedAuthServer
	mu    sync.Mutex
	hosts map[string]bool
}

func newAuthServer() *authServer { return &authServer{hosts: map[string]bool{}} }

// allow lets the daemon have the credentials of ref's registry.
func (a *authServer) allow(ref string) {
	r, err := name.ParseReference(ref, name.WeakValidation)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hosts[r.Context().RegistryStr()] = true
}

func (a *authServer) allowed(host string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hosts[host]
}

func (a *authServer) Register(s *grpc.Server) { auth.RegisterAuthServer(s, a) }

func (a *authServer) Credentials(ctx context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	host := req.Host
	if host == "registry-1.docker.io" || host == "docker.io" {
		host = name.DefaultRegistry
	}
	if !a.allowed(host) {
		return &auth.CredentialsResponse{}, nil
	}
	reg, err := name.NewRegistry(host, name.WeakValidation)
	if err != nil {
		return &auth.CredentialsResponse{}, nil
	}
	au, err := authn.DefaultKeychain.Resolve(reg)
	if err != nil {
		return nil, err
	}
	cfg, err := authn.Authorization(ctx, au)
	if err != nil {
		return nil, err
	}
	if cfg.IdentityToken != "" {
		return &auth.CredentialsResponse{Secret: cfg.IdentityToken}, nil
	}
	return &auth.CredentialsResponse{Username: cfg.Username, Secret: cfg.Password}, nil
}

// registryBase lowers t's registry base to an image the daemon pulls
// itself, by the digest imgc resolved and pins, so that its layers go from
// the registry to the daemon and not through imgc. The client reads only
// the base's manifest and config. ok is false when the daemon cannot reach
// the registry (it asked the daemon to resolve the pinned reference, and
// the daemon could not): the caller then pulls the base and serves it.
func (b *build) registryBase(ctx context.Context, t *ir.Target) (st llb.State, ri *imageio.RemoteImage, ok bool, err error) {
	ri, err = imageio.RemoteBase(ctx, t.Base, t.Platform)
	if err != nil {
		return llb.State{}, nil, false, nil
	}
	digest, ls := ri.Digest, ri.Layers
	ref := t.Base.Ref.Pinned(digest).Name
	if !b.daemonReaches(ctx, ref, t.Platform) {
		return llb.State{}, nil, false, nil
	}
	// Its layers come through the export as they are: never taken from
	// beside an imported cache.
	b.export.keepBase(ls...)
	b.pins[t.Base.Ref.String()+" "+t.Platform.String()] = digest
	b.daemonPulls = true
	st = llb.Image(ref, llb.Platform(llbPlatform(t.Platform)), llb.WithCustomName(fmt.Sprintf("[%s] base %s", t.Name, t.Base.Ref)))
	return st, ri, true, nil
}

// daemonReaches asks the daemon to resolve ref for platform pl, in a
// session of its own with the user's credentials, once per build.
func (b *build) daemonReaches(ctx context.Context, ref string, pl ir.Platform) bool {
	key := ref + " " + pl.String()
	b.reach.mu.Lock()
	defer b.reach.mu.Unlock()
	if ok, seen := b.reach.ok[key]; seen {
		return ok
	}
	p := llbPlatform(pl)
	b.auth.allow(ref)
	opt := client.SolveOpt{Session: []session.Attachable{b.auth}}
	_, err := b.c.Build(ctx, opt, "imgc", func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		_, _, _, err := gw.ResolveImageConfig(ctx, ref, sourceresolver.Opt{LogName: "[imgc] checking that the builder reaches " + ref,
			ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p, ResolveMode: llb.ResolveModeDefault.String()}})
		return gateway.NewResult(), err
	}, nil)
	b.reach.ok[key] = err == nil
	return err == nil
}
