package dockerfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/imgc-dev/imgc/model"
)

// FuzzConvert feeds arbitrary Dockerfiles to Import and Convert: neither
// may panic, the Config Import returns satisfies the model (model.Check
// finds nothing more), and every conversion must be valid HCL.
func FuzzConvert(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/Dockerfile")
	for _, s := range seeds {
		if src, err := os.ReadFile(s); err == nil {
			f.Add(src)
		}
	}
	f.Add([]byte("FROM a\nRUN <<EOF\n${x} %{y}\nEOF\n"))
	f.Add([]byte("ARG A\nFROM $A\nCOPY --from=0 . .\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		if cfg, _ := Import("Dockerfile", src, Options{}); cfg != nil {
			if diags := model.Check(cfg); len(diags) > 0 {
				t.Fatalf("the Config Import returned breaks the model: %v\n%s", diags, src)
			}
		}
		out, diags := Convert("Dockerfile", src, ConvertOptions{})
		for _, d := range diags {
			if d.Summary == "Internal error in imgc convert" {
				t.Fatalf("%s\n%s", d.Detail, src)
			}
		}
		if diags.HasErrors() {
			return
		}
		if _, pd := hclsyntax.ParseConfig(out, "converted.image.hcl", hcl.InitialPos); pd.HasErrors() {
			t.Fatalf("invalid HCL: %s\n%s", pd.Error(), out)
		}
	})
}
