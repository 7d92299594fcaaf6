package engine

import (
	"errors"
	"fmt"

	"github.com/imgc-dev/imgc/ir"
)

// PreparePlans is Prepare for each of plans (one per platform), in order.
func PreparePlans(plans []*ir.Plan, o BuildOptions) ([]BuildOptions, error) {
	opts := make([]BuildOptions, len(plans))
	for i, p := range plans {
		var err error
		if opts[i], err = Prepare(p, o); err != nil {
			return nil, err
		}
	}
	return opts, nil
}

// Prepare checks what every engine must refuse before it builds p, and
// returns o with its defaults filled in. It refuses a plan that breaks an
// IR invariant (ir.Check without keys: a compiler bug, never a user's
// mistake), run steps on the host's network without
// o.AllowNetworkHost (a *StepError at the first such step) and an unknown
// compression.
func Prepare(p *ir.Plan, o BuildOptions) (BuildOptions, error) {
	if p == nil {
		return o, errors.New("building: no plan")
	}
	if err := ir.Check(p, false); err != nil {
		return o, fmt.Errorf("building: the plan is inconsistent: %w", err)
	}
	if err := checkPending(p); err != nil {
		return o, err
	}
	if err := checkEntitlements(p, o); err != nil {
		return o, err
	}
	if o.Parallelism <= 0 {
		o.Parallelism = 2
	}
	switch o.Compression {
	case "":
		o.Compression = "gzip"
	case "gzip", "zstd":
	default:
		return o, fmt.Errorf("unknown compression %q: want gzip or zstd", o.Compression)
	}
	if o.Context == "" {
		o.Context = p.ContextDir()
	}
	return o, nil
}

// checkEntitlements refuses a plan whose run steps use the host's network
// or run privileged unless the build allows it, naming the first such step.
func checkEntitlements(p *ir.Plan, o BuildOptions) error {
	for _, t := range p.Targets {
		for _, l := range t.Layers {
			for _, st := range l.Steps {
				r, ok := st.(*ir.Run)
				if !ok {
					continue
				}
				var err error
				switch {
				case r.Network == ir.NetworkHost && !o.AllowNetworkHost:
					err = fmt.Errorf("this step uses the host's network, which needs the %s entitlement: pass --allow %s to allow it", EntitlementNetworkHost, EntitlementNetworkHost)
				case r.Security == ir.SecurityInsecure && !o.AllowInsecure:
					err = fmt.Errorf("this step runs privileged (security = \"insecure\"), which needs the %s entitlement: pass --allow %s to allow it", EntitlementSecurityInsecure, EntitlementSecurityInsecure)
				}
				if err != nil {
					return &StepError{Target: t.Name, Key: l.Key, Layer: l.Name, Origins: ir.StepOrigins(r), Err: err}
				}
			}
		}
	}
	return nil
}

// checkPending refuses a plan with a remote source its keys do not see:
// the compiler resolves them when given a fetcher, as a build must.
func checkPending(p *ir.Plan) error {
	for _, t := range p.Targets {
		for _, l := range t.Layers {
			if src := l.PendingSource(); src != "" {
				return fmt.Errorf("building: the plan's key for %s is not resolved: compile it with a fetcher", src)
			}
		}
	}
	return nil
}
