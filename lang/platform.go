package lang

import (
	"runtime"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// hostPlatform is the platform imgc runs on.
func hostPlatform() string {
	if runtime.GOARCH == "arm" {
		return "linux/arm/v7"
	}
	return "linux/" + runtime.GOARCH
}

// platformValue is the `platform` value of an evaluation for the target
// platform target on the build platform build ("" for the host's):
// BuildKit's TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT and
// BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT as
//
//	platform.target  platform.os        platform.arch        platform.variant
//	platform.build   platform.build_os  platform.build_arch  platform.build_variant
//
// so that `platform = platform.build` runs a stage natively, and
// `env = { GOARCH = platform.arch }` cross-compiles for the target.
func platformValue(target, build string) cty.Value {
	if build == "" {
		build = hostPlatform()
	}
	if target == "" {
		target = hostPlatform()
	}
	split := func(p string) (os, arch, variant string) {
		parts := strings.SplitN(p, "/", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		return parts[0], parts[1], parts[2]
	}
	tos, tarch, tvar := split(target)
	bos, barch, bvar := split(build)
	return cty.ObjectVal(map[string]cty.Value{
		"target": cty.StringVal(target), "os": cty.StringVal(tos), "arch": cty.StringVal(tarch), "variant": cty.StringVal(tvar),
		"build": cty.StringVal(build), "build_os": cty.StringVal(bos), "build_arch": cty.StringVal(barch), "build_variant": cty.StringVal(bvar),
	})
}
