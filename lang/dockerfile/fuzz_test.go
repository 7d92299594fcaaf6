package dockerfile

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

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
	// Crashers: a check directive after a blank line (nil linter), ARG
	// names that broke convert's HCL, ids above 32 bits, many ENV lines.
	f.Add([]byte("FROM busybox\n\n# check=skip=all\nRUN echo hi\n"))
	f.Add([]byte("ARG X\"Y=1\nFROM busybox\nARG X\"Y=1\nARG P%{Q=1\nARG D${E}=1\nRUN echo\n"))
	f.Add([]byte("FROM busybox\nUSER 1099511627776\nCOPY --chown=1:4294967296 a /a\n"))
	f.Add([]byte("FROM busybox\nENV A=1\nENV B=$A C=$B\nENV A=2\nRUN echo $A $B\nFROM 0\nENV D=$A\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		timer := time.AfterFunc(time.Minute, func() { panic(fmt.Sprintf("hang on %q", src)) }) // a hang guard
		defer timer.Stop()
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
