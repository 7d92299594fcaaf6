package compiler

import (
	"testing"

	"github.com/imgc-dev/imgc/ir"
)

func TestIndependent(t *testing.T) {
	layer := func(name string, steps ...ir.Step) *ir.Layer { return &ir.Layer{Name: name, Steps: steps} }
	cp := func(dest string, dsts ...string) *ir.Copy {
		c := &ir.Copy{Sources: []string{"x"}, Dest: dest, Context: "/ctx"}
		for _, d := range dsts {
			c.Files = append(c.Files, ir.CopyFile{Src: "x", Dst: d})
		}
		return c
	}
	chown := func(c *ir.Copy, owner string) *ir.Copy { c.Chown = owner; return c }
	run := func(reads, writes []string) *ir.Run {
		return &ir.Run{Argv: []string{"/bin/sh", "-c", "x"}, Shell: true, Reads: reads, Writes: writes}
	}
	inDir := func(r *ir.Run, wd string) *ir.Run { r.Workdir = wd; return r }
	cached := func(r *ir.Run, id string) *ir.Run {
		r.Mounts = []ir.Mount{{Type: ir.MountCache, Target: "/c", ID: id}}
		return r
	}
	// As stdlib's apt_install declares them.
	system := []string{"/bin", "/boot", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/root", "/run", "/sbin", "/tmp", "/usr", "/var"}
	apt := layer("apt_install: run apt-get install", run(system, append([]string{"/home"}, system...)))
	tests := []struct {
		name string
		a, b *ir.Layer
		want bool
	}{
		{"copies to sibling files", layer("a", cp("/app/a", "/app/a")), layer("b", cp("/app/b", "/app/b")), true},
		{"copy into a copied directory", layer("a", cp("/app/")), layer("b", cp("/app/x")), false},
		{"same destination", layer("a", cp("/a")), layer("b", cp("/a")), false},
		{"shared parent created with another owner", layer("a", chown(cp("/app/a"), "1000")), layer("b", cp("/app/b")), false},
		{"shared parent with the same owner", layer("a", chown(cp("/app/a"), "1000")), layer("b", chown(cp("/app/b"), "1000")), true},
		{"run writing elsewhere", layer("r", run(nil, []string{"/out"})), layer("c", cp("/app/x")), true},
		{"run reading the copy", layer("r", run([]string{"/app/x"}, []string{"/out"})), layer("c", cp("/app/x")), false},
		{"run reading below the copied directory", layer("r", run([]string{"/app/x/y"}, []string{"/out"})), layer("c", cp("/app/x/")), false},
		{"run creating the copy's parent", layer("r", run(nil, []string{"/out/x"})), layer("c", cp("/out/y")), false},
		{"run declaring nothing", layer("r", run(nil, nil)), layer("c", cp("/app/x")), false},
		{"run declaring only reads", layer("r", run([]string{"/etc"}, nil)), layer("c", cp("/app/x")), false},
		{"workdir the copy creates as a parent", layer("r", inDir(run(nil, []string{"/out"}), "/app")), layer("c", cp("/app/", "/app/a")), false},
		{"workdir elsewhere", layer("r", inDir(run(nil, []string{"/out"}), "/work")), layer("c", cp("/app/", "/app/a")), true},
		{"workdir the copy replaces", layer("r", inDir(run(nil, []string{"/out"}), "/app")), layer("c", cp("/app/", "/app", "/app/a")), false},
		{"copy over the user database", layer("r", run(nil, []string{"/out"})), layer("c", cp("/etc/passwd")), false},
		{"chown by name after a write of the user database", layer("r", run(nil, []string{"/etc/group"})), layer("c", chown(cp("/app/x"), "app")), false},
		{"shared cache mount", layer("r", cached(run(nil, []string{"/a"}), "go")), layer("s", cached(run(nil, []string{"/b"}), "go")), false},
		{"different cache mounts", layer("r", cached(run(nil, []string{"/a"}), "go")), layer("s", cached(run(nil, []string{"/b"}), "npm")), true},
		{"apt_install and an application copy", apt, layer("c", cp("/app/", "/app/a")), true},
		{"apt_install and a copy below /usr", apt, layer("c", cp("/usr/src/app/", "/usr/src/app/a")), false},
		{"root write", layer("r", run(nil, []string{"/"})), layer("c", cp("/app/x")), false},
	}
	for _, tt := range tests {
		a, b := layerEffects(tt.a), layerEffects(tt.b)
		if got := independent(a, b); got != tt.want {
			t.Errorf("%s: independent = %v, want %v", tt.name, got, tt.want)
		}
		if got := independent(b, a); got != tt.want {
			t.Errorf("%s (swapped): independent = %v, want %v", tt.name, got, tt.want)
		}
	}
}
