package compiler

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
	"github.com/imgc-dev/imgc/lang/dockerfile"
)

func TestPlatformOfOtherArchitecture(t *testing.T) {
	arm64 := ir.Platform{OS: "linux", Architecture: "arm64"}
	tests := []struct {
		name     string
		platform string
		host     ir.Platform
		want     string // summary of the only error; "" for none
		detail   string
	}{
		{"host", "linux/amd64", amd64, "", ""},
		{"host variant", "linux/arm64/v8", arm64, "", ""},
		{"other arch", "linux/arm64", amd64, "", ""},
		{"other host", "linux/amd64", arm64, "", ""},
		{"arm variant", "linux/arm/v7", amd64, "", ""},
		{"other os", "windows/amd64", amd64, "Unsupported platform", "imgc builds Linux images only, and this stage asks for windows/amd64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"app.image.hcl": `
image "app" {
  from     = "scratch"
  platform = "` + tt.platform + `"
}
`})
			cfg, diags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{})
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			p, diags := Compile(cfg, Options{Platform: tt.host})
			checkOnlyError(t, diags, tt.want, tt.detail, 4)
			want := strings.Replace(tt.platform, "linux/arm64/v8", "linux/arm64", 1) // as containerd normalises it
			if tt.want == "" && p.Targets[0].Platform.String() != want {
				t.Errorf("platform %s, want %s", p.Targets[0].Platform, want)
			}
		})
	}
}

func TestDockerfilePlatform(t *testing.T) {
	for _, tt := range []struct {
		platform, want, detail string
	}{
		{"linux/amd64", "", ""},
		{"linux/arm64", "", ""},
		{"linux/amd65", "Invalid platform", `Did you mean "amd64"?`},
	} {
		t.Run(tt.platform, func(t *testing.T) {
			dir := t.TempDir()
			src := "FROM scratch\nFROM --platform=" + tt.platform + " scratch\nCOPY --from=0 / /\n"
			// An invalid platform is the importer's error (model.Check);
			// another architecture is built (under emulation).
			cfg, diags := dockerfile.Import(filepath.Join(dir, "Dockerfile"), []byte(src), dockerfile.Options{Dir: dir})
			if cfg != nil {
				_, cdiags := Compile(cfg, Options{Platform: amd64})
				diags = append(diags, cdiags...)
			}
			checkOnlyError(t, diags, tt.want, tt.detail, 2)
		})
	}
}

// checkOnlyError checks that diags hold exactly one error, with summary
// want, a detail containing detail (case-insensitively) and its subject on
// line; or none when want is "".
func checkOnlyError(t *testing.T, diags hcl.Diagnostics, want, detail string, line int) {
	t.Helper()
	errs := diags.Errs()
	if want == "" {
		if len(errs) > 0 {
			t.Fatalf("unexpected errors: %s", diags.Error())
		}
		return
	}
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want one %q: %s", len(errs), want, diags.Error())
	}
	d := errs[0].(*hcl.Diagnostic)
	if d.Summary != want || !strings.Contains(strings.ToLower(d.Detail), strings.ToLower(detail)) {
		t.Errorf("got %q: %s\nwant %q with %q", d.Summary, d.Detail, want, detail)
	}
	if d.Subject == nil || d.Subject.Start.Line != line {
		t.Errorf("subject %v, want line %d", d.Subject, line)
	}
}

// TestKeysPerPlatform compiles one configuration for two target platforms:
// every layer has its own key per platform (the base key includes the
// platform and every key chains from it), except a stage whose own
// platform pins it (the builder of the cross-compilation idiom), which is
// the same plan for both unless its steps read the target platform.
func TestKeysPerPlatform(t *testing.T) {
	dir := writeTree(t, map[string]string{"app.txt": "hi\n", "app.image.hcl": `
stage "tools" {
  from     = "docker.io/library/busybox:1.36"
  platform = platform.build
  run { sh = "echo tools > /tools" }
}

stage "build" {
  from     = "docker.io/library/busybox:1.36"
  platform = platform.build
  env      = { GOARCH = platform.arch }
  run { sh = "echo $GOARCH > /bin.out" }
}

image "app" {
  from = "docker.io/library/busybox:1.36"
  copy {
    src  = "app.txt"
    dest = "/app.txt"
  }
  copy {
    from = stage.build
    src  = "/bin.out"
    dest = "/bin.out"
  }
  copy {
    from = stage.tools
    src  = "/tools"
    dest = "/tools"
  }
}
`})
	keys := map[string]map[string]ir.CacheKey{} // platform -> target/layer -> key
	for _, p := range []ir.Platform{amd64, {OS: "linux", Architecture: "arm64"}} {
		cfg, diags := lang.Load(filepath.Join(dir, "app.image.hcl"), lang.Options{Platform: p.String(), BuildPlatform: "linux/amd64"})
		if diags.HasErrors() {
			t.Fatal(diags.Error())
		}
		plan := mustCompile(t, cfg, Options{Platform: p, Optimize: LevelNone})
		keys[p.String()] = map[string]ir.CacheKey{}
		for _, tg := range plan.Targets {
			if tg.Name == "app" && tg.Platform != p {
				t.Errorf("app is for %s, want %s", tg.Platform, p)
			}
			if (tg.Name == "build" || tg.Name == "tools") && tg.Platform != amd64 {
				t.Errorf("%s is for %s, want the build platform linux/amd64", tg.Name, tg.Platform)
			}
			for i, l := range tg.Layers {
				keys[p.String()][tg.Name+"/"+strconv.Itoa(i)] = l.Key
			}
		}
	}
	a, b := keys["linux/amd64"], keys["linux/arm64"]
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("layers: %v and %v", a, b)
	}
	for name, k := range a {
		same := b[name] == k
		wantSame := strings.HasPrefix(name, "tools/")
		if same != wantSame {
			t.Errorf("%s: amd64 key %s, arm64 key %s; want same=%v", name, k, b[name], wantSame)
		}
	}
}
