package runc

import (
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSeccompProfileArchitectures checks that the profile names x32 only
// where the kernel runs x32 programs, and that nothing else changes.
func TestSeccompProfileArchitectures(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the x32 ABI is an amd64 one")
	}
	saved := kernelRunsX32
	t.Cleanup(func() { kernelRunsX32 = saved })
	profile := func(x32 bool) *specs.LinuxSeccomp {
		kernelRunsX32 = func() bool { return x32 }
		sc, err := seccompProfile(&specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: DefaultCapabilities}}})
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	with, without := profile(true), profile(false)
	if diff := cmp.Diff([]specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}, with.Architectures); diff != "" {
		t.Errorf("architectures with x32 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]specs.Arch{specs.ArchX86_64, specs.ArchX86}, without.Architectures); diff != "" {
		t.Errorf("architectures without x32 (-want +got):\n%s", diff)
	}
	without.Architectures = with.Architectures
	if diff := cmp.Diff(with, without); diff != "" {
		t.Errorf("the profiles differ beyond their architectures (-with +without):\n%s", diff)
	}
}
