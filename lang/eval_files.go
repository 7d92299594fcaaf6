package lang

import (
	"fmt"
	"net/url"

	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/model"
)

// filesDecl is a decoded `copy` or `add` block: its raw attributes.
type filesDecl struct {
	Attrs    hcl.Attributes
	Body     hcl.Body
	DefRange hcl.Range
}

func decodeFilesBlock(b *hcl.Block, schema *hcl.BodySchema) (*filesDecl, hcl.Diagnostics) {
	content, diags := b.Body.Content(schema)
	return &filesDecl{Attrs: content.Attributes, Body: b.Body, DefRange: b.DefRange}, diags
}

// fileSpec evaluates the settings copy and add share into f: what to
// exclude, the owner, the mode and link.
func (e *evaluator) fileSpec(attrs hcl.Attributes, f *model.FileSpec) {
	f.Exclude, _ = e.strs(attrs, "exclude", true)
	f.Chown = e.chown(attrs)
	f.Chmod = e.chmod(attrs)
	f.Link = e.boolean(attrs, "link", false)
}

func (e *evaluator) copyStep(b *hcl.Block) *model.Copy {
	d, diags := decodeFilesBlock(b, copySchema)
	e.l.addEval(diags)
	attrs := d.Attrs
	c := &model.Copy{}
	c.Src, _ = e.sources(attrs, "src")
	c.Dest, _ = e.nonEmpty(attrs, "dest")
	if attr, ok := attrs["from"]; ok {
		c.FromRange = attr.Expr.Range()
		if ref, ok := e.reference(attr, false); ok {
			c.From = ref
		}
	}
	e.fileSpec(attrs, &c.FileSpec)
	c.Parents = e.boolean(attrs, "parents", false)
	return c
}

func (e *evaluator) add(b *hcl.Block) *model.Add {
	d, diags := decodeFilesBlock(b, addSchema)
	e.l.addEval(diags)
	attrs := d.Attrs
	a := &model.Add{}
	_, hasSrc := attrs["src"]
	urlAttr, hasURL := attrs["url"]
	switch {
	case hasSrc && hasURL:
		e.l.add(model.ConflictingAddSources(urlAttr.NameRange))
	case !hasSrc && !hasURL && misspelt(d.Body, addSchema, "src", "url"):
		// "Unsupported argument" already says which was meant.
	case !hasSrc && !hasURL:
		e.l.add(model.MissingAddSource(d.DefRange))
	case hasSrc:
		a.Src, _ = e.sources(attrs, "src")
	case hasURL:
		a.URL = e.download(attrs, urlAttr)
	}
	if cs, ok := e.str(attrs, "checksum"); ok {
		if checksumPattern.MatchString(cs) {
			a.Checksum = cs
		} else {
			e.invalid(attrs["checksum"], "Invalid checksum",
				fmt.Sprintf("%q is not a digest. Write ALGORITHM:HEX with sha256, sha384 or sha512 and lower-case hex.", cs))
		}
	}
	a.Dest, _ = e.nonEmpty(attrs, "dest")
	a.Extract = e.boolean(attrs, "extract", false)
	e.fileSpec(attrs, &a.FileSpec)
	return a
}

// download evaluates an add step's url, which needs a checksum.
func (e *evaluator) download(attrs hcl.Attributes, urlAttr *hcl.Attribute) string {
	var out string
	if u, ok := e.nonEmpty(attrs, "url"); ok {
		if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			e.invalid(urlAttr, "Invalid URL", fmt.Sprintf("%q is not an http or https URL. Give the full URL of the file to download.", u))
		} else {
			out = u
		}
	}
	if _, ok := attrs["checksum"]; !ok {
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing checksum",
			Detail:   "A download must be pinned so that builds are reproducible and cache keys are sound. Add checksum = \"sha256:...\" with the file's digest.",
			Subject:  urlAttr.NameRange.Ptr(),
		})
	}
	return out
}

// mkdir evaluates a `mkdir` block: a directory made as WORKDIR makes it.
func (e *evaluator) mkdir(b *hcl.Block) *model.Mkdir {
	content, diags := b.Body.Content(mkdirSchema)
	e.l.addEval(diags)
	m := &model.Mkdir{}
	m.Path, _ = e.nonEmpty(content.Attributes, "path")
	m.User = e.user(content.Attributes)
	return m
}
