package local

import (
	"context"
	"sync"

	"github.com/imgc-dev/imgc/engine/local/runc"
	"github.com/imgc-dev/imgc/ir"
)

// buildNetwork is the private network that a build's default-network steps
// share: made when the first of them runs (a build whose steps are all
// cached starts no slirp4netns), closed when the build ends.
type buildNetwork struct {
	mu  sync.Mutex
	net *runc.Network
	err error
}

func (n *buildNetwork) get(ctx context.Context) (*runc.Network, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net == nil && n.err == nil {
		n.net, n.err = runc.NewNetwork(ctx)
		if n.err != nil && ctx.Err() != nil {
			n.err = nil // a cancelled build tried; a later caller is cancelled too
			return nil, ctx.Err()
		}
	}
	return n.net, n.err
}

func (n *buildNetwork) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.net != nil {
		n.net.Close()
		n.net = nil
	}
}

// networkFor returns the network a run step joins: the build's private one
// for the default mode, nil for the others.
func (b *builder) networkFor(ctx context.Context, r *ir.Run) (*runc.Network, error) {
	if r.Network != ir.NetworkDefault && r.Network != "" {
		return nil, nil
	}
	return b.net.get(ctx)
}
