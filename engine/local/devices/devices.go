// Package devices gives run steps CDI (Container Device Interface)
// devices, as BuildKit v0.34's RUN --device does: it reads the CDI spec
// files (JSON or YAML) of a set of directories with the reference library
// (tags.cncf.io/container-device-interface, the one BuildKit uses),
// resolves the names steps ask for the way BuildKit's CDI manager does,
// checks them against the device entitlement, and applies the devices'
// container edits (device nodes, environment, mounts, hooks, additional
// groups) to a step's OCI runtime configuration.
//
// It deliberately does not watch the spec directories (a build reads them
// once), run BuildKit's on-demand device installers, or create the host's
// device nodes: a spec file names nodes that must exist.
package devices

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"tags.cncf.io/container-device-interface/pkg/cdi"
	"tags.cncf.io/container-device-interface/pkg/parser"

	"github.com/imgc-dev/imgc/engine"
	"github.com/imgc-dev/imgc/ir"
)

// BuildKit's annotations: a device's class (a name steps may ask for it
// by) and a spec's or device's consent to be used without the device
// entitlement.
const (
	annotationClass     = "org.mobyproject.buildkit.device.class"
	annotationAutoAllow = "org.mobyproject.buildkit.device.autoallow"
)

// Registry is the devices of a set of spec directories, read once.
type Registry struct {
	cache *cdi.Cache
	dirs  []string
	all   []string // qualified names, sorted
}

// Open reads the spec files of dirs (nil: engine.DefaultCDISpecDirs). A
// directory that does not exist has no devices; a spec file that cannot
// be read or is invalid is left out, and named by the errors that say a
// device is missing.
func Open(dirs []string) (*Registry, error) {
	if dirs == nil {
		dirs = engine.DefaultCDISpecDirs
	}
	cache, err := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
	if err != nil {
		return nil, fmt.Errorf("reading CDI specs in %s: %w", strings.Join(dirs, ", "), err)
	}
	return &Registry{cache: cache, dirs: dirs, all: cache.ListDevices()}, nil
}

// Devices lists the qualified names of the registry's devices, sorted.
func (r *Registry) Devices() []string { return slices.Clone(r.all) }

// Resolve turns the devices a step asks for into qualified device names,
// as BuildKit's CDI manager does: "vendor.com/class=name" is that device,
// "vendor.com/class" the first of the kind (in name order),
// "vendor.com/class=*" every device of the kind, and a name that is none
// of these (or finds nothing) the devices whose class annotation it is. A
// device that finds nothing is left out (and in skipped) unless it is
// Required, which is a *MissingError.
func (r *Registry) Resolve(devs []ir.Device) (names, skipped []string, err error) {
	var out []string
	for _, d := range devs {
		found := r.find(d.Name)
		if len(found) == 0 && d.Required {
			return nil, nil, &MissingError{Name: d.Name, Dirs: r.dirs, Known: r.Devices(), SpecErrors: r.specErrors()}
		}
		if len(found) == 0 {
			skipped = append(skipped, d.Name)
		}
		for _, f := range found {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out, skipped, nil
}

func (r *Registry) find(name string) []string {
	var out []string
	kind, dev, _ := strings.Cut(name, "=")
	if vendor, _ := parser.ParseQualifier(kind); vendor != "" {
		for _, d := range r.all {
			if !strings.HasPrefix(d, kind+"=") {
				continue
			}
			if dev == "" || dev == "*" || d == name {
				out = append(out, d)
				if dev != "*" {
					break
				}
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	for _, d := range r.all {
		if r.annotations(d)[annotationClass] == name {
			out = append(out, d)
		}
	}
	return out
}

// annotations are a device's spec's annotations with its own over them.
func (r *Registry) annotations(name string) map[string]string {
	d := r.cache.GetDevice(name)
	if d == nil {
		return nil
	}
	out := map[string]string{}
	maps.Copy(out, d.GetSpec().Annotations)
	maps.Copy(out, d.Annotations)
	return out
}

// specErrors describes the spec files that could not be used, sorted.
func (r *Registry) specErrors() []string {
	var out []string
	for path, errs := range r.cache.GetErrors() {
		out = append(out, fmt.Sprintf("%s: %v", path, errors.Join(errs...)))
	}
	sort.Strings(out)
	return out
}

// Check refuses the resolved devices that g does not grant and whose
// specs do not allow them to every build (the annotation
// org.mobyproject.buildkit.device.autoallow=true), as BuildKit does: a
// name of g grants what it resolves to.
func (r *Registry) Check(names []string, g engine.DeviceGrant) error {
	if g.All || len(names) == 0 {
		return nil
	}
	granted := map[string]bool{}
	for _, n := range g.Names {
		found, _, _ := r.Resolve([]ir.Device{{Name: n}})
		for _, f := range found {
			granted[f] = true
		}
	}
	var denied []string
	for _, n := range names {
		if granted[n] {
			continue
		}
		if ok, err := strconv.ParseBool(r.annotations(n)[annotationAutoAllow]); err == nil && ok {
			continue
		}
		denied = append(denied, n)
	}
	if len(denied) > 0 {
		return &DeniedError{Names: denied}
	}
	return nil
}

// Edit returns what gives a step the resolved devices: it applies their
// specs' and their own container edits to the step's runtime
// configuration, as BuildKit does after its own settings.
func (r *Registry) Edit(names []string) func(*specs.Spec) error {
	return func(s *specs.Spec) error {
		if _, err := r.cache.InjectDevices(s, names...); err != nil {
			return fmt.Errorf("giving the step CDI devices %s: %w", strings.Join(names, ", "), err)
		}
		if s.Linux != nil && len(s.Linux.NetDevices) > 0 {
			// runc 1.1 ignores them: the step would run without them.
			return fmt.Errorf("giving the step CDI devices %s: their spec moves network interfaces (netDevices) into the step, which imgc does not do: its steps have a network of their own", strings.Join(names, ", "))
		}
		return nil
	}
}

// MissingError is a required device that no spec file of Dirs provides.
type MissingError struct {
	Name  string
	Dirs  []string
	Known []string
	// SpecErrors are the spec files that could not be used, with why.
	SpecErrors []string
}

// Summary names the error for a diagnostic.
func (e *MissingError) Summary() string { return "Missing device" }

func (e *MissingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the required CDI device %q is not in the spec files of %s", e.Name, strings.Join(e.Dirs, ", "))
	if len(e.Known) == 0 {
		b.WriteString(", which list no devices")
	} else {
		fmt.Fprintf(&b, ", which list %s", strings.Join(e.Known, ", "))
	}
	if len(e.SpecErrors) > 0 {
		fmt.Fprintf(&b, " (these spec files could not be used: %s)", strings.Join(e.SpecErrors, "; "))
	}
	b.WriteString(": ")
	if len(e.Known) > 0 {
		b.WriteString("name one of those devices, or ")
	}
	b.WriteString("add the device's spec file, point imgc build --cdi-spec-dir at the directory that has it, or make the device optional (without required)")
	return b.String()
}

// DeniedError is devices a step asks for without the device entitlement.
type DeniedError struct {
	Names []string
}

// Summary names the error for a diagnostic.
func (e *DeniedError) Summary() string { return "Device not allowed" }

func (e *DeniedError) Error() string {
	what := "device"
	if len(e.Names) > 1 {
		what = "devices"
	}
	return fmt.Sprintf("the step asks for the CDI %s %s, which reaches the host's hardware and needs the %s entitlement: pass --allow %s (every device) or --allow %s=%s",
		what, strings.Join(e.Names, ", "), engine.EntitlementDevice, engine.EntitlementDevice, engine.EntitlementDevice, e.Names[0])
}
