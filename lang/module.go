package lang

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/imgc-dev/imgc/model"
	"github.com/imgc-dev/imgc/stdlib"
)

// Modules: `module "NAME" { source = "./dir" | "git::URL", INPUT = value }`
// loads another configuration directory: its variables are the module's
// inputs, and its images, stages and step definitions are reachable as
// module.NAME.image.X, module.NAME.stage.X (values, for from and copy
// from) and `use "module.NAME.step.X" { ... }` (a step block). A module
// is evaluated by a loader of its own (sub-loader), whose diagnostics go
// to the root's; its stages join the configuration as stages named by
// their reference ("module.base.image.runtime"), built only when used.

// moduleDecl is a decoded module block.
type moduleDecl struct {
	Name        string
	Source      string
	SourceRange hcl.Range
	Inputs      hcl.Attributes
	DeclRange   hcl.Range
	// sub and subMod are the module's loader and decoded configuration;
	// nil when it could not be loaded (reported).
	sub    *loader
	subMod *module
	// unsourced is a module block whose source is missing or invalid
	// (reported): declared, so references to it are not reported again,
	// but never loaded.
	unsourced bool
}

func (l *loader) decodeModuleBlock(b *hcl.Block) *moduleDecl {
	md := &moduleDecl{Name: b.Labels[0], DeclRange: b.DefRange, Inputs: hcl.Attributes{}}
	if !l.checkName("module", md.Name, b.LabelRanges[0]) {
		return nil
	}
	attrs, diags := b.Body.JustAttributes()
	l.add(diags...)
	unsourced := func() *moduleDecl {
		md.unsourced = true
		return md
	}
	src, ok := attrs["source"]
	if !ok {
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing module source",
			Detail:   fmt.Sprintf("The module %q has no source. Set source = \"./DIR\" (a directory relative to this file's) or \"git::URL\".", md.Name),
			Subject:  b.DefRange.Ptr(),
		})
		return unsourced()
	}
	// The source is a constant: it decides what the configuration is,
	// before any value is known.
	val, diags := src.Expr.Value(nil)
	for _, d := range diags {
		if d.Summary == "Variables not allowed" || d.Summary == "Function calls not allowed" {
			d.Detail += " A module's source is a constant, as in Terraform: it decides what the configuration is before any variable has a value. Write the directory (\"./modules/svc\") or git::URL; pass values to the module as its inputs."
		}
	}
	l.add(diags...)
	if diags.HasErrors() {
		return unsourced()
	}
	s, ok := l.asString(val, src)
	if !ok {
		return unsourced()
	}
	md.Source, md.SourceRange = s, src.Expr.Range()
	for name, attr := range attrs {
		if name != "source" {
			md.Inputs[name] = attr
		}
	}
	return md
}

// loadModules resolves, parses and decodes every module of mod, and
// theirs, with a loader each. stack holds the directories being loaded,
// outermost first, to refuse cycles.
func (l *loader) loadModules(mod *module, stack []string) {
	for _, md := range mod.modules {
		if md.unsourced {
			continue
		}
		dir, d := l.moduleDir(md)
		if d != nil {
			l.add(d)
			continue
		}
		if contains(stack, dir) {
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cycle in modules",
				Detail: fmt.Sprintf("The module %q loads %s, which is already being loaded (through %s). A module cannot use itself, directly or through others; remove this module block.",
					md.Name, dir, strings.Join(stack, " -> ")),
				Subject: md.SourceRange.Ptr(),
			})
			continue
		}
		files, _, diags := configFiles(dir)
		if diags.HasErrors() {
			for _, dg := range diags {
				dg.Summary = "Invalid module source"
				dg.Detail = fmt.Sprintf("The module %q: %s", md.Name, dg.Detail)
				dg.Subject = md.SourceRange.Ptr()
			}
			l.add(diags...)
			continue
		}
		var parsed []*hcl.File
		broken := false
		for _, name := range files {
			f, fdiags := ParseFile(l.parser, name, "Module file")
			l.add(fdiags...)
			broken = broken || fdiags.HasErrors()
			parsed = append(parsed, f)
		}
		if broken {
			continue
		}
		sub := newLoader(l.funcs, nil)
		if l.stdFuncs {
			sub.funcs = stdlib.Functions(dir)
		}
		sub.stdFuncs, sub.macros, sub.platform, sub.parser = l.stdFuncs, l.macros, l.platform, l.parser
		sub.parent, sub.dir, sub.srcDir = l, dir, dir
		sub.prefix = l.prefix + "module." + md.Name + "."
		subMod := sub.decodeModule(parsed)
		sub.loadModules(subMod, append(stack, dir))
		sub.checkReferences(subMod)
		sub.checkStepDefs(subMod)
		md.sub, md.subMod = sub, subMod
	}
}

// moduleDir is the directory a module's source names: a local one
// relative to the declaring configuration's, or a git checkout.
func (l *loader) moduleDir(md *moduleDecl) (string, *hcl.Diagnostic) {
	switch {
	case strings.HasPrefix(md.Source, "git::"):
		dir, err := fetchGit(strings.TrimPrefix(md.Source, "git::"))
		if err != nil {
			return "", &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Module not fetched",
				Detail:   fmt.Sprintf("Fetching the module %q from %s: %s. Check the URL and the ref, and that git can reach it.", md.Name, md.Source, err),
				Subject:  md.SourceRange.Ptr(),
			}
		}
		return dir, nil
	case strings.HasPrefix(md.Source, "./") || strings.HasPrefix(md.Source, "../"):
		return filepath.Join(l.srcDir, filepath.FromSlash(md.Source)), nil
	}
	detail := fmt.Sprintf("%q is not a module source. Write a directory relative to this file's, starting with ./ or ../ (\"./modules/base\"), or a git repository as git::URL[//SUBDIR][?ref=REF].", md.Source)
	if fi, err := os.Stat(filepath.Join(l.srcDir, filepath.FromSlash(md.Source))); err == nil && fi.IsDir() && !filepath.IsAbs(md.Source) {
		detail = fmt.Sprintf("%q is not a module source: a local directory starts with ./ or ../, as in Terraform (a bare name would be a registry's). Did you mean \"./%s\"?", md.Source, md.Source)
	}
	return "", &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid module source",
		Detail:   detail,
		Subject:  md.SourceRange.Ptr(),
	}
}

// evaluateModules gives each module its inputs (evaluated in the using
// configuration's context) and evaluates its configuration, appending its
// stages to cfg.
func (l *loader) evaluateModules(mod *module, cfg *model.Config) {
	for _, md := range mod.modules {
		if md.sub == nil {
			continue
		}
		sub, subMod := md.sub, md.subMod
		raw := l.moduleInputs(mod, md)
		vals := sub.convertVariables(subMod, raw, Options{})
		sub.varVals, sub.varSources = vals, raw
		sub.validateVariables(subMod, vals)
		root := l.root()
		for _, v := range subMod.variables {
			if vals[v.Name].IsWhollyKnown() {
				cfg.Vars[sub.prefix+"var."+v.Name] = renderValue(vals[v.Name], v.Sensitive)
			}
			if v.Sensitive && vals[v.Name].IsWhollyKnown() {
				if root.sensitive == nil {
					root.sensitive = map[string]string{}
				}
				sensitiveValues(sub.prefix+"var."+v.Name, vals[v.Name], root.sensitive)
			}
		}
		sub.evaluateLocals(subMod, vals)
		sub.evaluateModules(subMod, cfg)
		for _, s := range subMod.stages {
			st := sub.evaluateStage(subMod, s)
			if st == nil {
				continue
			}
			// A module's images are stages of the using configuration:
			// built when used, never exported or tagged.
			st.Name, st.Kind = sub.stageName(s), model.KindStage
			st.Tags, st.Annotations, st.Platforms = nil, nil, nil
			chainEnv(st)
			cfg.Stages = append(cfg.Stages, st)
		}
		sub.checkUncalledDefs(subMod)
	}
}

// moduleInputs evaluates a module block's inputs as the values of the
// module's variables, reporting unknown inputs and missing ones at the
// block.
func (l *loader) moduleInputs(mod *module, md *moduleDecl) map[string]varValue {
	ctx := l.evalContext(mod)
	raw := map[string]varValue{}
	where := fmt.Sprintf("the module block %q at %s", md.Name, shortRange(md.DeclRange))
	for _, v := range md.subMod.variables {
		if v.Default != cty.NilVal {
			r := v.DefaultExpr.Range()
			raw[v.Name] = varValue{val: v.Default, source: "the default", rng: &r}
		}
	}
	for _, name := range sortedKeys(md.Inputs) {
		attr := md.Inputs[name]
		if md.subMod.varByName[name] == nil {
			detail := fmt.Sprintf("The module %q declares no variable %q.%s Its inputs are its variables; remove the argument or fix its name.",
				md.Name, name, model.Suggestion(name, sortedKeys(md.subMod.varByName), ""))
			switch name {
			case "for_each", "count":
				detail = fmt.Sprintf("A module block takes only its variables: imgc has no %s, as Terraform has on modules. Write a module block per value, each with a name and inputs of its own, and an image block per value built on it (from = module.NAME.image.X): a module's images are stages, never built by themselves.", name)
			case "depends_on", "version", "providers":
				detail = fmt.Sprintf("A module block takes only its variables: imgc has no %s, as Terraform has on modules. What an image needs is built first without depends_on; a git module's version is its ?ref=.", name)
			}
			l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported module input",
				Detail:   detail,
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		val, diags := attr.Expr.Value(ctx)
		l.addEval(diags)
		if diags.HasErrors() {
			val = unknownValue
		}
		r := attr.Expr.Range()
		raw[name] = varValue{val: val, source: where, rng: &r}
	}
	for _, v := range md.subMod.variables {
		if _, ok := raw[v.Name]; ok || v.defaultFailed || md.Inputs[v.Name] != nil {
			continue
		}
		l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing module input",
			Detail: fmt.Sprintf("The module %q needs a value for its variable %q (declared at %s without a default). Set it in the module block: %s = VALUE.",
				md.Name, v.Name, shortRange(v.DeclRange), v.Name),
			Subject: md.DeclRange.Ptr(),
		})
		raw[v.Name] = varValue{val: unknownValue, source: where}
	}
	return raw
}

// stageName is the model's name of a stage or image: its own in the root
// configuration, its reference ("module.base.image.runtime") in a module.
func (l *loader) stageName(s *stageDecl) string {
	if l.prefix == "" {
		return s.Name
	}
	return l.prefix + string(s.Kind) + "." + s.Name
}

// moduleValues is the value of `module` in expressions: per module, its
// images and stages as stage references; a module that failed to load is
// unknown, so that uses of it are not reported again.
func (l *loader) moduleValues(mod *module) cty.Value {
	out := map[string]cty.Value{}
	for _, md := range mod.modules {
		if md.sub == nil {
			out[md.Name] = unknownValue
			continue
		}
		stages, images := map[string]cty.Value{}, map[string]cty.Value{}
		for _, s := range md.subMod.stages {
			ref := stageRef{Kind: model.KindStage, Name: md.sub.stageName(s)}
			if s.Kind == model.KindImage {
				images[s.Name] = cty.CapsuleVal(stageRefType, &ref)
			} else {
				stages[s.Name] = cty.CapsuleVal(stageRefType, &ref)
			}
		}
		out[md.Name] = cty.ObjectVal(map[string]cty.Value{"image": objectOf(images), "stage": objectOf(stages)})
	}
	return objectOf(out)
}

// checkModuleReference reports a module.NAME... reference that names no
// module, or no image or stage of it.
func (l *loader) checkModuleReference(mod *module, tr hcl.Traversal) *hcl.Diagnostic {
	md := mod.moduleByName[attrName(tr, 1)]
	if md == nil {
		return &hcl.Diagnostic{
			Summary: "Reference to undeclared module",
			Detail: fmt.Sprintf("No module %q is declared.%s Declare it with a module block, or fix the name.",
				attrName(tr, 1), model.Suggestion(attrName(tr, 1), sortedKeys(mod.moduleByName), "module.")),
		}
	}
	if md.subMod == nil {
		return nil // its loading was reported
	}
	kind, name := attrName(tr, 2), attrName(tr, 3)
	if (kind != "image" && kind != "stage") || name == "" {
		return &hcl.Diagnostic{
			Summary: "Invalid module reference",
			Detail:  fmt.Sprintf("A module's images and stages are module.%s.image.NAME and module.%s.stage.NAME.", md.Name, md.Name),
		}
	}
	if s := md.subMod.stageByName[name]; s == nil || string(s.Kind) != kind {
		var candidates []string
		for _, s := range md.subMod.stages {
			if string(s.Kind) == kind {
				candidates = append(candidates, s.Name)
			}
		}
		return &hcl.Diagnostic{
			Summary: "Reference to undeclared " + kind,
			Detail: fmt.Sprintf("The module %q (%s) declares no %s %q.%s",
				md.Name, md.Source, kind, name, model.Suggestion(name, candidates, "module."+md.Name+"."+kind+".")),
		}
	}
	return nil
}

func attrName(tr hcl.Traversal, i int) string {
	if i >= len(tr) {
		return ""
	}
	if a, ok := tr[i].(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// useStep expands `use "module.NAME.step.DEF" { ... }`: a use of a
// module's step definition.
func (e *evaluator) useStep(b *hcl.Block, rng hcl.Range, vars []string) []model.Step {
	parts := strings.Split(b.Labels[0], ".")
	bad := func(summary, detail string) []model.Step {
		e.l.add(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: b.LabelRanges[0].Ptr()})
		return nil
	}
	if len(parts) != 4 || parts[0] != "module" || parts[2] != "step" {
		return bad("Invalid step reference", fmt.Sprintf("%q names no step definition of a module. Write use \"module.MODULE.step.NAME\"; use a definition of this configuration as a block of its name.", b.Labels[0]))
	}
	md := e.l.modByName[parts[1]]
	if md == nil {
		return bad("Reference to undeclared module", fmt.Sprintf("No module %q is declared.%s Declare it with a module block, or fix the name.",
			parts[1], model.Suggestion(parts[1], sortedKeys(e.l.modByName), "module.")))
	}
	if md.sub == nil {
		return nil
	}
	def := md.sub.defs[parts[3]]
	if def == nil {
		return bad("Reference to undeclared step definition", fmt.Sprintf("The module %q (%s) declares no step definition %q.%s",
			md.Name, md.Source, parts[3], model.Suggestion(parts[3], sortedKeys(md.sub.defs), "module."+md.Name+".step.")))
	}
	return e.callDef(b, def, rng, vars)
}
