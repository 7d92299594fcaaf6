package lang

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/stdlib"
)

// loader carries the state of one Load: the diagnostics so far and what
// every phase after decoding needs.
type loader struct {
	diags hcl.Diagnostics
	// errors counts the errors found, also those not added to diags
	// because they repeat one that is.
	errors int
	funcs  map[string]function.Function
	macros map[string]stdlib.Macro
	syntax syntaxIndex
	// reported are the ranges of references already diagnosed statically;
	// evaluation errors at these ranges would only repeat them.
	reported reportedRanges
	// localVals are evaluated locals; cyclic or failed ones are unknown.
	localVals  map[string]cty.Value
	varVals    map[string]cty.Value
	varSources map[string]varValue
	// localVars are the variables each local refers to, directly or
	// through other locals.
	localVars map[string]map[string]bool
	// refVals are var, stage and image of every evaluation context, and
	// stageCtx the context of stage bodies, each built once (vars.go).
	refVals  map[string]cty.Value
	stageCtx *hcl.EvalContext
	// platform is the `platform` value (platform.go).
	platform cty.Value
	// defs are the step definitions by name (stepdef.go).
	defs map[string]*stepDef
	// parent is the loader of the configuration that uses this one as a
	// module (nil for the root): diagnostics go to the root's list.
	parent *loader
	// sensitive are the values of sensitive step parameters, as
	// model.Config.Sensitive holds them (under step.DEF.PARAM), kept
	// by the root loader.
	sensitive map[string]string
	// parser parses every file, also the modules'; stdFuncs tells that
	// funcs are the stdlib's (a module gets those of its directory).
	parser   *hclparse.Parser
	stdFuncs bool
	// srcDir is the configuration's directory, which module sources are
	// relative to; prefix names a module's stages and variables in the
	// root configuration ("module.base."; "" for the root).
	srcDir, prefix string
	// modByName are the configuration's modules (module.go).
	modByName map[string]*moduleDecl
	// dir is a module's directory, which its copy and add sources are
	// relative to; "" for the root configuration (the build context).
	dir string
}

func newLoader(funcs map[string]function.Function, macros []stdlib.Macro) *loader {
	l := &loader{
		platform:  platformValue("", ""),
		funcs:     funcs,
		macros:    map[string]stdlib.Macro{},
		syntax:    syntaxIndex{},
		localVals: map[string]cty.Value{},
		localVars: map[string]map[string]bool{},
		defs:      map[string]*stepDef{},
		modByName: map[string]*moduleDecl{},
	}
	for _, m := range macros {
		l.macros[m.Name] = m
	}
	return l
}

func (l *loader) add(diags ...*hcl.Diagnostic) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			l.errors++
		}
		terraformHint(d)
	}
	if l.parent != nil {
		l.parent.add(diags...)
		return
	}
	l.diags = append(l.diags, diags...)
}

// terraformHint says, in a diagnostic of a Terraform habit imgc does not
// share, what to write instead: for_each and count on a block.
func terraformHint(d *hcl.Diagnostic) {
	if d.Summary == "Unsupported block type" && !strings.Contains(d.Detail, "Terraform's") {
		for _, b := range []string{"terraform", "provider", "resource", "data", "output", "lifecycle"} {
			if strings.Contains(d.Detail, `Blocks of type "`+b+`" are not expected here`) {
				d.Detail += fmt.Sprintf(" %q is Terraform's: imgc's top-level blocks are variable, locals, stage, image, module and step (docs/language.md, \"Files\").", b)
			}
		}
	}
	if d.Summary == "Unsupported argument" && !strings.Contains(d.Detail, "Terraform's") {
		for _, a := range []string{"depends_on", "provider", "lifecycle"} {
			if strings.HasPrefix(d.Detail, `An argument named "`+a+`"`) {
				d.Detail += fmt.Sprintf(" %q is Terraform's: imgc finds what a stage or image needs from its references (from, copy's from, mount's from), and builds that first.", a)
			}
		}
	}
	if d.Summary == "Unsupported attribute" && d.Expression != nil && !strings.Contains(d.Detail, "stage.NAME") {
		for _, tr := range d.Expression.Variables() {
			if root := tr.RootName(); root == "stage" || root == "image" {
				d.Detail += " A stage.NAME or image.NAME reference names the stage as a whole, for from, copy's from and mount's from: its attributes cannot be read. Put a value both use in a local."
				break
			}
		}
	}
	for _, fn := range []string{"timestamp", "uuid", "bcrypt", "plantimestamp"} {
		if d.Summary == "Call to unknown function" && strings.Contains(d.Detail, `function named "`+fn+`"`) && !strings.Contains(d.Detail, "same inputs") {
			d.Detail += fmt.Sprintf(" imgc has no %s(), on purpose: an image built twice from the same inputs should be the same, and a value new at every run would rebuild every layer that uses it. Pass such a value with --var (a commit's time, say); see docs/stdlib.md.", fn)
		}
	}
	if d.Summary == "Unknown variable" && strings.HasPrefix(d.Detail, "There is no variable named") && !strings.Contains(d.Detail, "$${") {
		// ${HOME} in a shell command is HCL's interpolation.
		name := strings.TrimSuffix(strings.TrimPrefix(d.Detail, "There is no variable named \""), "\".")
		if i := strings.IndexByte(name, '"'); i >= 0 {
			name = name[:i]
		}
		switch {
		case name == "each" || name == "count":
			d.Detail += fmt.Sprintf(" %s is Terraform's: in a dynamic block the element is named after the block (run.value, run.key), or after its iterator.", name)
		case name == "path" || name == "terraform" || name == "self":
			d.Detail += fmt.Sprintf(" %s is Terraform's: imgc has no %s object; relative paths start at the configuration's directory.", name, name)
		case name != "" && !strings.ContainsAny(name, ". "):
			d.Detail += fmt.Sprintf(" In a string, ${...} is HCL's: for the shell's or the image's variable, write $${%s} (or $%s).", name, name)
		}
	}
	if d.Summary == "Unsupported argument" && (strings.HasPrefix(d.Detail, `An argument named "for_each"`) || strings.HasPrefix(d.Detail, `An argument named "count"`)) &&
		!strings.Contains(d.Detail, "imgc has no for_each") {
		d.Detail += ` imgc has no for_each or count on blocks, as Terraform has on resources: write an image block per image. To share what they have in common, build each on a common stage (from = stage.common), or on a module's image (a module block per value, and an image block per value with from = module.NAME.image.X: a module's images are stages, never built by themselves), or call a step definition in each (see "Modules" and "Step definitions" in docs/language.md); for repeated steps or mounts in an image, use a dynamic block.`
	}
}

// root is the loader of the root configuration, which holds the
// diagnostics.
func (l *loader) root() *loader {
	for l.parent != nil {
		l = l.parent
	}
	return l
}

// addEval appends diagnostics from evaluating an expression, dropping
// those at references that were already reported as unknown (they still
// count as errors).
func (l *loader) addEval(diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			l.errors++
		}
		terraformHint(d)
		if d.Subject != nil && l.alreadyReported(*d.Subject) {
			continue
		}
		if l.parent != nil {
			l.parent.add(d)
			continue
		}
		l.diags = append(l.diags, d)
	}
}

func (l *loader) alreadyReported(r hcl.Range) bool { return l.reported.overlaps(r) }

// reportedRanges answers "does r overlap a reported range?" in log time
// per file: scanning them all for every evaluation error took time n² for
// a file of n bad references.
type reportedRanges struct {
	byFile map[string][]hcl.Range // sorted by start once queried
	maxEnd map[string][]int       // maxEnd[f][i]: the furthest end among byFile[f][:i+1]
	dirty  bool
}

func (rr *reportedRanges) add(r hcl.Range) {
	if rr.byFile == nil {
		rr.byFile = map[string][]hcl.Range{}
	}
	rr.byFile[r.Filename] = append(rr.byFile[r.Filename], r)
	rr.dirty = true
}

func (rr *reportedRanges) overlaps(r hcl.Range) bool {
	if rr.dirty {
		rr.maxEnd = map[string][]int{}
		for f, rs := range rr.byFile {
			sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Byte < rs[j].Start.Byte })
			ends := make([]int, len(rs))
			for i, x := range rs {
				ends[i] = x.End.Byte
				if i > 0 {
					ends[i] = max(ends[i], ends[i-1])
				}
			}
			rr.maxEnd[f] = ends
		}
		rr.dirty = false
	}
	rs, ends := rr.byFile[r.Filename], rr.maxEnd[r.Filename]
	// Only a range starting at or before r's end and ending at or after
	// its start can overlap it.
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Start.Byte > r.End.Byte })
	for i--; i >= 0 && ends[i] >= r.Start.Byte; i-- {
		if rs[i].Overlaps(r) {
			return true
		}
	}
	return false
}

// module is the decoded AST of a configuration: raw expressions and
// ranges, nothing evaluated yet.
type module struct {
	variables    []*variableDecl
	locals       []*localDecl
	stages       []*stageDecl
	varByName    map[string]*variableDecl
	localByName  map[string]*localDecl
	stageByName  map[string]*stageDecl
	defs         []*stepDef
	defByName    map[string]*stepDef
	modules      []*moduleDecl
	moduleByName map[string]*moduleDecl
}

type variableDecl struct {
	Name     string
	Type     cty.Type
	Defaults *typeexpr.Defaults
	// TypeText is the type as written (with its optional attributes),
	// for messages; "" when unknown.
	TypeText    string
	Default     cty.Value // cty.NilVal when there is none
	DefaultExpr hcl.Expression
	Description string
	Sensitive   bool
	// Nullable is false when `nullable = false` refuses null.
	Nullable    bool
	Validations []*validationRule
	DeclRange   hcl.Range
	// defaultFailed tells that a default was given but is invalid
	// (reported), so that the variable is not also reported missing.
	defaultFailed bool
}

type validationRule struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
	DeclRange    hcl.Range
}

type localDecl struct {
	Name      string
	Expr      hcl.Expression
	DeclRange hcl.Range
}

type stageDecl struct {
	Kind      model.StageKind
	Name      string
	Body      hcl.Body
	Syntax    *hclsyntax.Block
	DeclRange hcl.Range
	// vars are the variables the stage's own attributes (env, workdir,
	// user, shell) refer to; every step inherits them.
	defaultVars map[string]bool
}

// stageRef is a reference to a stage or image, read without evaluating.
type stageRef struct {
	Kind  model.StageKind
	Name  string
	Range hcl.Range
	// Image is set instead of Name for an image reference string that a
	// conditional's other result, a stage reference, converted:
	// `var.x ? stage.build : "alpine"`.
	Image string
}

// stageRefType is the value of stage.NAME and image.NAME in expressions,
// so that `from`, `copy.from` and `mount.from` can tell a stage from an
// image reference string, also through locals and conditionals. A string
// converts to it (as an image reference), so a conditional may choose
// between a stage reference and an image reference string.
var stageRefType = cty.CapsuleWithOps("stage reference", reflect.TypeOf(stageRef{}), &cty.CapsuleOps{
	ConversionTo: func(src cty.Type) func(cty.Value, cty.Path) (any, error) {
		if !src.Equals(cty.String) {
			return nil
		}
		return func(v cty.Value, _ cty.Path) (any, error) {
			return &stageRef{Image: v.AsString()}, nil
		}
	},
})

var fileSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: string(model.KindStage), LabelNames: []string{"name"}},
		{Type: string(model.KindImage), LabelNames: []string{"name"}},
		{Type: "step", LabelNames: []string{"name"}},
		{Type: "module", LabelNames: []string{"name"}},
	},
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
		{Name: "nullable"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

func (l *loader) decodeModule(files []*hcl.File) *module {
	mod := &module{
		varByName:    map[string]*variableDecl{},
		localByName:  map[string]*localDecl{},
		stageByName:  map[string]*stageDecl{},
		defByName:    map[string]*stepDef{},
		moduleByName: map[string]*moduleDecl{},
	}
	for _, f := range files {
		if body, ok := f.Body.(*hclsyntax.Body); ok {
			l.syntax.add(body)
		}
		content, diags := f.Body.Content(fileSchema)
		l.add(diags...)
		for _, b := range content.Blocks {
			switch b.Type {
			case "variable":
				if v := l.decodeVariableBlock(b); v != nil {
					if prev, dup := mod.varByName[v.Name]; dup {
						l.add(duplicate("variable", v.Name, prev.DeclRange, v.DeclRange))
						continue
					}
					mod.varByName[v.Name] = v
					mod.variables = append(mod.variables, v)
				}
			case "locals":
				for _, loc := range l.decodeLocalsBlock(b) {
					if prev, dup := mod.localByName[loc.Name]; dup {
						l.add(duplicate("local value", loc.Name, prev.DeclRange, loc.DeclRange))
						continue
					}
					mod.localByName[loc.Name] = loc
					mod.locals = append(mod.locals, loc)
				}
			case string(model.KindStage), string(model.KindImage):
				if s := l.decodeStageBlock(b); s != nil {
					if prev, dup := mod.stageByName[s.Name]; dup {
						l.add(duplicate("stage or image", s.Name, prev.DeclRange, s.DeclRange))
						continue
					}
					mod.stageByName[s.Name] = s
					mod.stages = append(mod.stages, s)
				}
			case "step":
				if d := l.decodeStepDefBlock(b); d != nil {
					if prev, dup := mod.defByName[d.Name]; dup {
						l.add(duplicate("step definition", d.Name, prev.DeclRange, d.DeclRange))
						continue
					}
					mod.defByName[d.Name] = d
					mod.defs = append(mod.defs, d)
					l.defs[d.Name] = d
				}
			case "module":
				if md := l.decodeModuleBlock(b); md != nil {
					if prev, dup := mod.moduleByName[md.Name]; dup {
						l.add(duplicate("module", md.Name, prev.DeclRange, md.DeclRange))
						continue
					}
					mod.moduleByName[md.Name] = md
					mod.modules = append(mod.modules, md)
					l.modByName[md.Name] = md
				}
			}
		}
	}
	return mod
}

func duplicate(what, name string, first, again hcl.Range) *hcl.Diagnostic {
	summary := "Duplicate " + what + " name"
	if what == "stage or image" {
		summary = "Duplicate stage name"
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail: fmt.Sprintf("A %s named %q was already declared at %s. Names must be unique within a configuration; rename or remove one of them.",
			what, name, shortRange(first)),
		Subject: again.Ptr(),
	}
}

func (l *loader) checkName(what, name string, r hcl.Range) bool {
	if hclsyntax.ValidIdentifier(name) {
		return true
	}
	l.add(&hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + what + " name",
		Detail: fmt.Sprintf("%q is not a valid %s name. A name starts with a letter or underscore and may contain letters, digits, underscores and dashes.",
			name, what),
		Subject: r.Ptr(),
	})
	return false
}

func (l *loader) decodeVariableBlock(b *hcl.Block) *variableDecl {
	v := &variableDecl{Name: b.Labels[0], Type: cty.DynamicPseudoType, DeclRange: b.DefRange, Nullable: true}
	if !l.checkName("variable", v.Name, b.LabelRanges[0]) {
		return nil
	}
	content, diags := b.Body.Content(variableSchema)
	l.add(diags...)
	if attr, ok := content.Attributes["type"]; ok {
		ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(attr.Expr)
		l.add(diags...)
		if !diags.HasErrors() {
			v.Type, v.Defaults = ty, defaults
			if l.parser != nil {
				if f := l.parser.Files()[attr.Expr.Range().Filename]; f != nil {
					v.TypeText = strings.Join(strings.Fields(string(attr.Expr.Range().SliceBytes(f.Bytes))), " ")
				}
			}
		}
	}
	if attr, ok := content.Attributes["description"]; ok {
		val, diags := attr.Expr.Value(nil)
		l.add(diags...)
		if !diags.HasErrors() {
			if s, ok := l.asString(val, attr); ok {
				v.Description = s
			}
		}
	}
	if attr, ok := content.Attributes["sensitive"]; ok {
		val, diags := attr.Expr.Value(nil)
		l.add(diags...)
		if !diags.HasErrors() {
			v.Sensitive = l.asBool(val, attr)
		}
	}
	if attr, ok := content.Attributes["nullable"]; ok {
		val, diags := attr.Expr.Value(nil)
		l.add(diags...)
		if !diags.HasErrors() {
			v.Nullable = l.asBool(val, attr)
		}
	}
	if attr, ok := content.Attributes["default"]; ok {
		// A default is a constant: functions, but no references.
		val, diags := attr.Expr.Value(&hcl.EvalContext{Functions: l.funcs})
		l.add(diags...)
		if diags.HasErrors() {
			v.defaultFailed = true
		} else {
			v.Default, v.DefaultExpr = val, attr.Expr
		}
	}
	for _, vb := range content.Blocks {
		vc, diags := vb.Body.Content(validationSchema)
		l.add(diags...)
		if diags.HasErrors() {
			continue
		}
		rule := &validationRule{
			Condition:    vc.Attributes["condition"].Expr,
			ErrorMessage: vc.Attributes["error_message"].Expr,
			DeclRange:    vb.DefRange,
		}
		for _, tr := range rule.Condition.Variables() {
			if tr.RootName() != "var" {
				l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid reference in variable validation",
					Detail:   "A validation condition may refer only to variables (var.NAME). Move the check to where the other value is used, or express it with variables.",
					Subject:  tr.SourceRange().Ptr(),
				})
				l.reported.add(tr.SourceRange())
			}
		}
		v.Validations = append(v.Validations, rule)
	}
	return v
}

func (l *loader) decodeLocalsBlock(b *hcl.Block) []*localDecl {
	attrs, diags := b.Body.JustAttributes()
	l.add(diags...)
	locals := make([]*localDecl, 0, len(attrs))
	for _, attr := range attrs {
		if !l.checkName("local value", attr.Name, attr.NameRange) {
			continue
		}
		locals = append(locals, &localDecl{Name: attr.Name, Expr: attr.Expr, DeclRange: attr.NameRange})
	}
	// JustAttributes returns a map; keep source order for stable output.
	sortByRange(locals, func(d *localDecl) hcl.Range { return d.DeclRange })
	return locals
}

func (l *loader) decodeStageBlock(b *hcl.Block) *stageDecl {
	s := &stageDecl{
		Kind:      model.StageKind(b.Type),
		Name:      b.Labels[0],
		Body:      b.Body,
		Syntax:    l.syntax.block(b.DefRange),
		DeclRange: b.DefRange,
	}
	if !l.checkName(b.Type, s.Name, b.LabelRanges[0]) {
		return nil
	}
	return s
}

// blockRange is the whole block whose header is at def, or def itself
// when the source is not native syntax.
func (l *loader) blockRange(def hcl.Range) hcl.Range {
	if sb := l.syntax.block(def); sb != nil {
		return sb.Range()
	}
	return def
}

// asString converts a constant to a string, reporting a mismatch at attr.
func (l *loader) asString(val cty.Value, attr *hcl.Attribute) (string, bool) {
	v, ok := l.convert(val, cty.String, attr)
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

func (l *loader) asBool(val cty.Value, attr *hcl.Attribute) bool {
	v, ok := l.convert(val, cty.Bool, attr)
	return ok && v.True()
}
