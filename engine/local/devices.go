package local

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/engine/local/devices"
	"github.com/imgc-dev/imgc/ir"
)

// stepDevices are the CDI devices of a build's run steps, resolved and
// checked against the device entitlement before anything runs, as
// BuildKit does when it loads a build, cached steps included.
type stepDevices struct {
	reg   *devices.Registry
	names map[*ir.Run][]string
	// warnings say which optional devices the host lacks.
	warnings []string
}

// resolveDevices reads the spec files of o.CDISpecDirs, only when a run
// step of p asks for a device, and resolves every step's devices: a
// required device the host lacks, or one the build is not granted, is a
// *engine.StepError at its step.
func resolveDevices(p *ir.Plan, o engine.BuildOptions) (*stepDevices, error) {
	sd := &stepDevices{names: map[*ir.Run][]string{}}
	for _, t := range p.Targets {
		for _, l := range t.Layers {
			for _, st := range l.Steps {
				r, ok := st.(*ir.Run)
				if !ok || len(r.Devices) == 0 {
					continue
				}
				if sd.reg == nil {
					reg, err := devices.Open(o.CDISpecDirs)
					if err != nil {
						return nil, err
					}
					sd.reg = reg
				}
				names, skipped, err := sd.reg.Resolve(r.Devices)
				if err == nil {
					err = sd.reg.Check(names, o.Devices)
				}
				if err != nil {
					return nil, &engine.StepError{Target: t.Name, Key: l.Key, Layer: l.Name, Origins: ir.StepOrigins(r), Err: err}
				}
				for _, s := range skipped {
					sd.warnings = append(sd.warnings, fmt.Sprintf("%s: the optional CDI device %q is not in the host's CDI spec files; the step runs without it", r.Origin, s))
				}
				if len(names) > 0 {
					sd.names[r] = names
				}
			}
		}
	}
	return sd, nil
}

// edit is what gives r its devices, or nil.
func (sd *stepDevices) edit(r *ir.Run) func(*specs.Spec) error {
	if sd == nil || sd.names[r] == nil {
		return nil
	}
	return sd.reg.Edit(sd.names[r])
}
