package dockerfile

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/imgc-dev/imgc/model"
)

// ConvertOptions tune Convert.
type ConvertOptions struct {
	// ImageName names the image block when the final stage has no AS
	// name; "app" when empty.
	ImageName string
	// Platform is the target platform whose values TARGETARCH and friends
	// default to; the host's when empty.
	Platform string
}

// Convert writes the .image.hcl configuration for a Dockerfile: named
// stages, variables for ARGs, mount blocks and one config block per stage,
// formatted as `imgc fmt` would. Loading the result gives the same model
// Import gives for the Dockerfile (with default ARG values). What HCL
// cannot say exactly is a warning naming the line; errors are Import's.
func Convert(filename string, src []byte, opts ConvertOptions) ([]byte, hcl.Diagnostics) {
	if diags := checkSize(filename, src); diags != nil {
		return nil, diags
	}
	if !utf8.Valid(src) {
		line := 1 + bytes.Count(src[:invalidUTF8(src)], []byte("\n"))
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Dockerfile not UTF-8",
			Detail:   "HCL files are UTF-8, so a Dockerfile with other bytes cannot be converted. Re-encode the file as UTF-8.",
			Subject:  newSource(filename, src).lines(line, line).Ptr(),
		}}
	}
	f := read(filename, src, Options{Platform: opts.Platform})
	diags := f.diagnostics(forConvert)
	if !f.parsed {
		return nil, diags
	}
	// The values of steps (an empty RUN); what only the built
	// configuration needs, such as a valid platform, lang checks when it
	// loads the conversion.
	for _, st := range f.stages {
		diags = append(diags, checkSteps(st.lower().Steps)...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	w := &writer{f: f, opts: opts, diags: &diags, names: map[string]string{}, kinds: map[string]model.StageKind{}}
	w.vars, w.varNames = f.variables()
	out := w.write()
	formatted := hclwrite.Format(out)
	parsed, pdiags := hclsyntax.ParseConfig(formatted, filename+".image.hcl", hcl.InitialPos)
	if pdiags.HasErrors() {
		// The writer produced invalid HCL: a bug here, not in the input.
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Internal error in imgc convert",
			Detail:   fmt.Sprintf("The converted configuration does not parse (%s). This is a bug in imgc; please report it with the Dockerfile.", pdiags.Error()),
			Subject:  f.src.lines(1, 1).Ptr(),
		})
	}
	return oneLineBlocks(parsed, formatted), diags
}

// invalidUTF8 is the offset of the first byte that is not UTF-8.
func invalidUTF8(src []byte) int {
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(src)
}

// writer prints a form as HCL.
type writer struct {
	f     *form
	opts  ConvertOptions
	diags *hcl.Diagnostics
	// vars are the variables of the form's ARGs; varNames[i] names the
	// variable of the form's declaration i.
	vars     *varTable
	varNames []string
	names    map[string]string // Dockerfile stage name -> HCL block name
	kinds    map[string]model.StageKind
	taken    map[int]bool // comment lines already written
	// cur is the stage being written: step and config env values are
	// written relative to its env, which the HCL front end chains them to.
	cur *stageForm
}

func (w *writer) write() []byte {
	w.taken = map[int]bool{}
	w.nameStages()

	stages := hclwrite.NewEmptyFile()
	for _, st := range w.f.stages {
		w.stage(stages.Body(), st)
	}
	w.comments(stages.Body(), math.MaxInt)
	stageBytes := stages.Bytes()
	locals := w.locals()

	f := hclwrite.NewEmptyFile()
	body := f.Body()
	body.AppendUnstructuredTokens(comment(fmt.Sprintf("Converted from %s by imgc convert.", filepath.Base(w.f.src.filename))))
	body.AppendNewline()
	for _, v := range w.vars.list {
		if v.Of != "" {
			continue
		}
		if v.Stage == "" {
			w.comments(body, v.Range.Start.Line)
		}
		b := body.AppendNewBlock("variable", []string{v.Name}).Body()
		switch {
		case len(v.Stages) > 1:
			names := make([]string, len(v.Stages))
			for i, s := range v.Stages {
				names[i] = w.hclName(s)
			}
			b.SetAttributeRaw("description", raw(quoted(quoteLit(fmt.Sprintf("ARG %s of stages %s, each with its own default", v.Arg, strings.Join(names, ", "))))))
		case v.Stage != "":
			b.SetAttributeRaw("description", raw(quoted(quoteLit(fmt.Sprintf("ARG %s of stage %s", v.Arg, w.hclName(v.Stage))))))
		}
		b.SetAttributeRaw("type", raw("string"))
		switch {
		case v.Required:
		case v.Null || v.Derived != "":
			b.SetAttributeRaw("default", raw("null"))
		default:
			b.SetAttributeRaw("default", raw(quoted(quoteLit(v.Default))))
		}
		body.AppendNewline()
	}
	out := append(f.Bytes(), locals...)
	return append(out, stageBytes...)
}

// locals is the locals block of the variables whose defaults are
// computed from other ARGs: the value given, else the computed one.
func (w *writer) locals() string {
	var b strings.Builder
	for _, v := range w.vars.list {
		if v.Of != "" {
			tmpl := quoteLit(v.Default)
			if v.Derived != "" {
				tmpl = resolveDecls(v.Derived, w.varNames)
			}
			fmt.Fprintf(&b, "  %s = var.%s != null ? var.%s : %s\n", v.Name, v.Of, v.Of, quoted(tmpl))
			continue
		}
		if v.Derived == "" {
			continue
		}
		fmt.Fprintf(&b, "  %s = var.%s != null ? var.%s : %s\n", v.Name, v.Name, v.Name, quoted(resolveDecls(v.Derived, w.varNames)))
	}
	if b.Len() == 0 {
		return ""
	}
	return "locals {\n" + b.String() + "}\n\n"
}

func comment(text string) hclwrite.Tokens {
	var toks hclwrite.Tokens
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight("# "+line, " ")
		toks = append(toks, &hclwrite.Token{Type: hclsyntax.TokenComment, Bytes: []byte(line + "\n")})
	}
	return toks
}

// comments writes the Dockerfile comments of lines up to line that are not
// written yet.
func (w *writer) comments(body *hclwrite.Body, line int) {
	var lines []int
	for l := range w.f.comments {
		if l <= line && !w.taken[l] {
			lines = append(lines, l)
		}
	}
	sort.Ints(lines)
	for _, l := range lines {
		w.taken[l] = true
		for _, c := range w.f.comments[l] {
			if c == "" {
				body.AppendNewline()
				continue
			}
			body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(c + "\n")}})
		}
	}
}

func raw(s string) hclwrite.Tokens {
	return hclwrite.Tokens{{Type: hclsyntax.TokenIdent, Bytes: []byte(s)}}
}

// text writes a value: its template, the form's references to variables
// named.
func (w *writer) text(t text) string {
	return quoted(resolveDecls(t.template(), w.varNames))
}

// quoted wraps a quoted-template body in quotes, or gives a bare
// reference when the template is exactly one.
func quoted(tmpl string) string {
	if m := bareRef.FindStringSubmatch(tmpl); m != nil {
		return m[1]
	}
	return `"` + tmpl + `"`
}

var bareRef = regexp.MustCompile(`^\$\{((?:(?:var|local)\.[A-Za-z_][A-Za-z0-9_-]*|platform\.[a-z_]+))\}$`)

func strList(values []string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = `"` + quoteLit(v) + `"`
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (w *writer) nameStages() {
	used := map[string]bool{}
	for _, st := range w.f.stages {
		name := identifier(strings.ReplaceAll(st.Name, ".", "_"))
		if st.Kind == model.KindImage && strings.HasPrefix(st.Name, "stage-") && w.isDefaultName(st) {
			name = w.opts.ImageName
			if name == "" {
				name = "app"
			}
		}
		base := name
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		used[name] = true
		w.names[st.Name] = name
		w.kinds[st.Name] = st.Kind
	}
}

func (w *writer) isDefaultName(st *stageForm) bool {
	for i, s := range w.f.stages {
		if s == st {
			return st.Name == fmt.Sprintf("stage-%d", i)
		}
	}
	return false
}

func (w *writer) hclName(stage string) string {
	if n, ok := w.names[stage]; ok {
		return n
	}
	return stage
}

// stageRef is the traversal naming a stage of the configuration.
func (w *writer) stageRef(stage string) string {
	return string(w.kinds[stage]) + "." + w.hclName(stage)
}
