package dockerfile

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/imgc-dev/imgc/model"
)

// The form is what reading a Dockerfile produces, and what both Import and
// Convert start from: its stages as BuildKit's dispatcher evaluates them
// (ARG, ENV and expansion applied), where every value that may come from a
// variable carries the HCL template that gives it, every base image the text
// the Dockerfile wrote, and every stage and step the range of its lines.
// Import lowers the form to the model (lower.go); Convert prints it as HCL
// (convert.go, write.go).

// form is one Dockerfile read.
type form struct {
	src *source
	// parsed is false when BuildKit's parser rejected the file: there is
	// nothing to lower or print.
	parsed bool
	stages []*stageForm
	// args are the ARGs with the values Import gives them (model.Config.Vars).
	args map[string]string
	// decls are the ARGs a conversion declares variables for, in order;
	// required are the global ARGs whose variables get no default.
	decls    []argDecl
	required []string
	// comments are the Dockerfile's comments by the line they precede.
	comments map[int][]string
	diags    []formDiag
}

// audience says who reports a diagnostic: some only concern the
// conversion (a value HCL cannot keep), some only the import (a base image
// a conversion turns into a variable).
type audience int

const (
	forBoth audience = iota
	forImport
	forConvert
)

// formDiag is a diagnostic of reading the Dockerfile, in document order.
type formDiag struct {
	diag *hcl.Diagnostic
	to   audience
}

// diagnostics are the form's diagnostics that matter to a.
func (f *form) diagnostics(a audience) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range f.diags {
		if d.to == forBoth || d.to == a {
			out = append(out, d.diag)
		}
	}
	return out
}

// text is one value of the form: what the model holds, and the inside of an
// HCL quoted template giving it ("${var.VERSION}-alpine") when the value is
// more than its literal text ("" then).
type text struct {
	Value string
	Tmpl  string
}

// textOf is the text of an expansion: its template is kept only when it
// says more than the value.
func textOf(x expansion) text {
	t := text{Value: x.Value}
	if x.Tmpl != "" && x.Tmpl != quoteLit(x.Value) {
		t.Tmpl = x.Tmpl
	}
	return t
}

func lit(v string) text { return text{Value: v} }

// template is the text's HCL template.
func (t text) template() string {
	if t.Tmpl != "" {
		return t.Tmpl
	}
	return quoteLit(t.Value)
}

func values(ts []text) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Value)
	}
	return out
}

// envText is one variable of an env attribute.
type envText struct {
	Name string
	text
	// Null is an ARG without a value: left out of the model's env (unset),
	// written as its variable, which defaults to null.
	Null bool
}

// baseForm is a stage's base, or a copy or mount source. Written is, for an
// image, the template of the reference as the Dockerfile wrote it (the model
// holds it parsed and normalised), and for a FROM that only has a value once
// --var gives one, the template of that value.
type baseForm struct {
	Base    model.Base
	Written string
	// Stages are, for a FROM written with ARGs, the stages before it
	// that another value of Written could name: the conversion chooses
	// among them and the image reference as BuildKit does.
	Stages []string
	// Dir is a --from's named context directory (--build-context), in
	// place of Base.
	Dir string
}

type stageForm struct {
	Kind          model.StageKind
	Name          string
	From          baseForm
	FromRange     hcl.Range
	Platform      text
	PlatformRange hcl.Range
	Env           []envText
	Workdir, User text
	Shell         []string
	Steps         []stepForm
	Config        *configForm
	DeclRange     hcl.Range
	Range         hcl.Range
}

// stepForm is a *runForm, *copyForm, *addForm, *mkdirForm or *layerForm.
type stepForm interface {
	stepRange() hcl.Range
}

type runForm struct {
	Command       model.Command
	Env           []envText
	Workdir, User text
	Shell         []string
	Network       string
	Security      string
	Devices       []model.Device
	Mounts        []mountForm
	Vars          []string
	Range         hcl.Range
}

// mountForm is a --mount of a RUN.
type mountForm struct {
	Type                    string
	Target, ID, Source, Env text
	Sharing                 string
	From                    *baseForm
	ReadOnly, Required      bool
	Mode                    *uint32
	UID, GID                *int
	Size                    int64
	Range                   hcl.Range
}

// fileForm are the values COPY and ADD share.
type fileForm struct {
	Src          []text
	Dest         text
	Exclude      []string
	Chown, Chmod text
	Link         bool
}

type copyForm struct {
	fileForm
	From    *baseForm
	Parents bool
	// Content is, for a COPY or ADD heredoc, the file's text (a template
	// where the heredoc expands ARGs), written to Dest as Name.
	Content *text
	Name    string
	Vars    []string
	// Context is a named context's directory the sources are read from
	// (COPY --from=NAME with --build-context NAME=DIR).
	Context string
	Range   hcl.Range
}

type addForm struct {
	fileForm
	URL, Checksum text
	Git           *model.GitSource
	// GitText is Git's remote, ref and subdir as templates, for a source
	// written with ARGs; nil writes Git's constants.
	GitText *gitText
	Extract bool
	Vars    []string
	Range   hcl.Range
}

// mkdirForm is the directory a WORKDIR makes; an empty User is the base
// image's user.
type mkdirForm struct {
	Path, User text
	Vars       []string
	Range      hcl.Range
}

// layerForm is one instruction that becomes several steps in one layer.
type layerForm struct {
	Name  string
	Steps []stepForm
	Range hcl.Range
}

func (r *runForm) stepRange() hcl.Range   { return r.Range }
func (c *copyForm) stepRange() hcl.Range  { return c.Range }
func (a *addForm) stepRange() hcl.Range   { return a.Range }
func (l *layerForm) stepRange() hcl.Range { return l.Range }
func (m *mkdirForm) stepRange() hcl.Range { return m.Range }

// configForm is the image config a stage's instructions set.
type configForm struct {
	Entrypoint    []string
	EntrypointSet bool
	Cmd           []string
	CmdSet        bool
	Env           []envText
	User, Workdir text
	Labels        map[string]text
	// BaseEnvLabels are the Labels whose values name a variable only the
	// base image sets ($$ a literal $): model.ImageConfig.BaseEnvLabels.
	BaseEnvLabels map[string]bool
	Expose        []text
	Volumes       []text
	StopSignal    text
	Healthcheck   *model.Healthcheck
	OnBuild       []string
	Shell         []string
	Author        text
	Range         hcl.Range
	Instructions  []model.ConfigInstruction
}
