package lang

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Format returns src in canonical layout (hclwrite.Format). It does not
// check the syntax; use FormatFile to refuse malformed input.
func Format(src []byte) []byte {
	return hclwrite.Format(src)
}

// FormatFile formats src after checking that it parses, so that `imgc fmt`
// never rewrites a file it cannot read. filename is for diagnostics.
func FormatFile(src []byte, filename string) ([]byte, hcl.Diagnostics) {
	if diags := CheckSource(filename, src); diags.HasErrors() {
		return nil, diags
	}
	if _, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	return Format(src), nil
}
