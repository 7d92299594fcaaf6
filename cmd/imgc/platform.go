package main

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/model"
)

// hostPlatform is the platform imgc builds for without --platform.
func hostPlatform() ir.Platform { return ir.Platform{OS: "linux", Architecture: hostArch()} }

// parsePlatforms reads a --platform value: one platform or several,
// comma-separated ("linux/amd64,linux/arm64"). Duplicates are dropped.
func parsePlatforms(flag string) ([]ir.Platform, hcl.Diagnostics) {
	var out []ir.Platform
	seen := map[string]bool{}
	for _, s := range strings.Split(flag, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := model.ParsePlatform(s)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid --platform value",
				Detail: fmt.Sprintf("%s.", strings.TrimSuffix(err.Error(), "."))}}
		}
		if p.OS != "linux" {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid --platform value",
				Detail: fmt.Sprintf("imgc builds Linux images only, and --platform names %s. Use linux/ARCH, such as linux/amd64 or linux/arm64.", s)}}
		}
		ip := ir.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
		if !seen[ip.String()] {
			seen[ip.String()] = true
			out = append(out, ip)
		}
	}
	return out, nil
}
