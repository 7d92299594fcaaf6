package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/ir"
	"github.com/imgc-dev/imgc/lang"
)

const inlineSrc = `
variable "greeting" {
  type    = string
  default = "hello"
}

image "bare" {
  from = "scratch"
  copy {
    content = "greeting=${var.greeting}\n"
    dest    = "/etc/app.conf"
  }
  copy {
    content = <<-EOT
      a
    EOT
    name    = "A"
    dest    = "/etc/pair/"
    chown   = "1000:1000"
    chmod   = "0600"
  }
}
`

func TestInlineCopyLowering(t *testing.T) {
	dir := writeTree(t, map[string]string{"main.image.hcl": inlineSrc})
	cfg, diags := lang.Load(filepath.Join(dir, "main.image.hcl"), lang.Options{})
	if diags.HasErrors() {
		t.Fatalf("loading: %s", diags.Error())
	}
	p := mustCompile(t, cfg, Options{})
	var got []*ir.Copy
	for _, l := range p.Targets[0].Layers {
		got = append(got, l.Steps[0].(*ir.Copy))
	}
	conf, pair := "greeting=hello\n", "a\n"
	want := []*ir.Copy{
		{Sources: []string{"app.conf"}, Dest: "/etc/app.conf", Content: &conf,
			Files: []ir.CopyFile{{Src: "app.conf", Dst: "/etc/app.conf", Mode: 0o644, Size: 15, Digest: "sha256:" + sha256Hex(conf)}}},
		{Sources: []string{"A"}, Dest: "/etc/pair/", Content: &pair, Chown: "1000:1000", Chmod: "0600",
			Files: []ir.CopyFile{{Src: "A", Dst: "/etc/pair/A", Mode: 0o644, Size: 2, Digest: "sha256:" + sha256Hex(pair)}}},
	}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".Origin" || p.Last().String() == ".Definition"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
}

func TestInlineCopyKeys(t *testing.T) {
	before := keysOf(t, inlineSrc, nil, nil)
	after := keysOf(t, inlineSrc, nil, map[string]string{"greeting": "bye"})
	if before["bare/1"] == after["bare/1"] {
		t.Errorf("changing the text of an inline file did not change its layer's key")
	}
	if before["bare/2"] == after["bare/2"] {
		t.Errorf("a layer after a changed inline file kept its key")
	}
	if again := keysOf(t, inlineSrc, nil, nil); again["bare/1"] != before["bare/1"] {
		t.Errorf("the same inline file got another key: %s, then %s", before["bare/1"], again["bare/1"])
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
