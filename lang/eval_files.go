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
	_, hasSrc := attrs["src"]
	contentAttr, hasContent := attrs["content"]
	switch {
	case hasSrc && hasContent:
		e.invalid(contentAttr, "Copy with src and content", "A copy step copies either the files in src or the text in content. Remove one, or write two copy steps in a layer block.")
	case hasContent:
		// Content whose evaluation failed was reported: an empty text
		// stands in, so that the step is not also "without source".
		errs := e.l.root().errors
		if text, ok := e.str(attrs, "content"); ok || e.l.root().errors > errs || e.unknown(contentAttr) {
			c.Content = &text
		}
		c.Name, _ = e.str(attrs, "name")
	case !hasSrc && misspelt(d.Body, copySchema, "src", "content"):
		// "Unsupported argument" already says which was meant.
	case !hasSrc:
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing required argument",
			Detail:   "The argument \"src\" is required: the files to copy. Or give content, the text of a file to write.",
			Subject:  d.DefRange.Ptr(),
		})
	default:
		c.Src, _ = e.sources(attrs, "src")
	}
	if attr, ok := attrs["name"]; ok && !hasContent {
		e.invalid(attr, "Name without content", "name is the file name of a copy of content. Remove it, or add content.")
	}
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
	gitAttr, hasGit := attrs["git"]
	switch {
	case hasURL && (hasSrc || hasGit):
		e.l.add(model.ConflictingAddSources(urlAttr.NameRange))
	case hasSrc && hasGit:
		e.l.add(model.ConflictingAddSources(gitAttr.NameRange))
	case !hasSrc && !hasURL && !hasGit && misspelt(d.Body, addSchema, "src", "url", "git"):
		// "Unsupported argument" already says which was meant.
	case !hasSrc && !hasURL && !hasGit:
		e.l.add(model.MissingAddSource(d.DefRange))
	case hasSrc:
		a.Src, _ = e.sources(attrs, "src")
	case hasURL:
		a.URL = e.download(attrs, urlAttr)
	case hasGit:
		a.Git = e.gitSource(attrs, gitAttr)
	}
	if !hasGit {
		for _, name := range []string{"ref", "subdir", "keep_git_dir", "submodules"} {
			if attr, ok := attrs[name]; ok {
				e.invalid(attr, "Git setting without git", fmt.Sprintf("%s applies only to a git checkout. Add git = \"https://.../repo.git\", or remove %s.", name, name))
			}
		}
	}
	if attr, ok := attrs["checksum"]; ok && !hasURL {
		e.invalid(attr, "Checksum without url", "checksum pins a download. Remove it, or add the url it pins.")
	}
	if cs, ok := e.str(attrs, "checksum"); ok && hasURL {
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

// download evaluates an add step's url. Without a checksum the build
// downloads it first and keys the step by its content.
func (e *evaluator) download(attrs hcl.Attributes, urlAttr *hcl.Attribute) string {
	u, ok := e.nonEmpty(attrs, "url")
	if !ok {
		return ""
	}
	if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		e.invalid(urlAttr, "Invalid URL", fmt.Sprintf("%q is not an http or https URL. Give the full URL of the file to download.", u))
		return ""
	}
	return u
}

// gitSource evaluates an add step's git checkout.
func (e *evaluator) gitSource(attrs hcl.Attributes, gitAttr *hcl.Attribute) *model.GitSource {
	remote, ok := e.nonEmpty(attrs, "git")
	if !ok {
		return nil
	}
	if err := model.ValidateGitRemote(remote); err != nil {
		e.invalid(gitAttr, "Invalid git repository", model.Sentence(err.Error()))
		return nil
	}
	g := &model.GitSource{Remote: remote, KeepGitDir: e.boolean(attrs, "keep_git_dir", false), SkipSubmodules: !e.boolean(attrs, "submodules", true)}
	g.Ref, _ = e.str(attrs, "ref")
	g.Subdir, _ = e.str(attrs, "subdir")
	ok = true
	if err := model.ValidateGitRef(g.Ref, ""); err != nil {
		e.invalid(attrs["ref"], "Invalid git ref", model.Sentence(err.Error()))
		ok = false
	}
	if err := model.ValidateGitRef("", g.Subdir); err != nil {
		e.invalid(attrs["subdir"], "Invalid git subdirectory", model.Sentence(err.Error()))
		ok = false
	}
	if !ok {
		return nil
	}
	return g
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
