package lang

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// LockFile is the name of the lock file in a configuration directory.
const LockFile = "imgc.lock.hcl"

var (
	digestPattern   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	platformPattern = regexp.MustCompile(`^[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_.]+)?$`)
)

var lockSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "base", LabelNames: []string{"reference"}}},
}

var lockBaseSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "digest", Required: true}, {Name: "platform"}},
}

// ReadLock reads the pins (image reference -> "sha256:..." manifest
// digest) of the lock file in dir. A missing file is no pins. A pin for a
// platform (a block with platform = "linux/arm64") is keyed
// "REFERENCE PLATFORM" (see compiler.PinKey); one without, written before
// imgc pinned per platform, by the reference alone: it pins the host's
// platform.
func ReadLock(dir string) (map[string]string, hcl.Diagnostics) {
	path := filepath.Join(dir, LockFile)
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	f, diags := ParseFile(hclparse.NewParser(), path, "Lock file")
	if diags.HasErrors() {
		return nil, diags
	}
	content, diags := f.Body.Content(lockSchema)
	pins := map[string]string{}
	first := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		bc, bdiags := b.Body.Content(lockBaseSchema)
		diags = append(diags, bdiags...)
		ref := b.Labels[0]
		if attr, ok := bc.Attributes["platform"]; ok {
			val, vdiags := attr.Expr.Value(nil)
			diags = append(diags, vdiags...)
			if vdiags.HasErrors() {
				continue
			}
			if val.Type() != cty.String || val.IsNull() || !platformPattern.MatchString(val.AsString()) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid platform",
					Detail:   "A pin's platform is written OS/ARCH or OS/ARCH/VARIANT, such as \"linux/arm64\". Fix the value, or delete the block to pin the reference again.",
					Subject:  attr.Expr.Range().Ptr(),
				})
				continue
			}
			ref += " " + val.AsString()
		}
		if prev, dup := first[ref]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate lock entry",
				Detail:   fmt.Sprintf("%q is already pinned at %s. Remove one of the blocks.", ref, shortRange(prev)),
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		first[ref] = b.DefRange
		attr, ok := bc.Attributes["digest"]
		if !ok {
			continue
		}
		val, vdiags := attr.Expr.Value(nil)
		diags = append(diags, vdiags...)
		if vdiags.HasErrors() {
			continue
		}
		if val.Type() != cty.String || val.IsNull() || !digestPattern.MatchString(val.AsString()) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid digest",
				Detail:   "A pin is a manifest digest written as \"sha256:\" and 64 lower-case hex digits. Fix the value, or delete the block to pin the reference again.",
				Subject:  attr.Expr.Range().Ptr(),
			})
			continue
		}
		pins[ref] = val.AsString()
	}
	return pins, diags
}

// WriteLock replaces the lock file in dir with pins, sorted by reference.
// The file is written to a temporary name and renamed, so readers never
// see a partial file.
func WriteLock(dir string, pins map[string]string) error {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	body.AppendUnstructuredTokens(hclwrite.Tokens{{
		Type:  hclsyntax.TokenComment,
		Bytes: []byte("# This file is maintained by imgc build and plan: it pins each base image\n# reference to a manifest digest, per platform. Commit it; delete a block to re-pin.\n"),
	}})
	for _, ref := range sortedKeys(pins) {
		digest := pins[ref]
		if !digestPattern.MatchString(digest) {
			return fmt.Errorf("writing lock file: pin for %q: %q is not a sha256 digest", ref, digest)
		}
		body.AppendNewline()
		r, platform, _ := strings.Cut(ref, " ")
		block := body.AppendNewBlock("base", []string{r}).Body()
		if platform != "" {
			block.SetAttributeValue("platform", cty.StringVal(platform))
		}
		block.SetAttributeValue("digest", cty.StringVal(digest))
	}
	tmp, err := os.CreateTemp(dir, "."+LockFile+".*")
	if err != nil {
		return fmt.Errorf("writing lock file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(f.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing lock file: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing lock file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing lock file: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, LockFile)); err != nil {
		return fmt.Errorf("writing lock file: %w", err)
	}
	return nil
}
