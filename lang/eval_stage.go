package lang

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/imgc-dev/imgc/imageref"
	"github.com/imgc-dev/imgc/model"
)

// decodeStageBody decodes a stage or image block's body: its raw
// attributes, and its step, layer and config blocks in document order,
// dynamic blocks expanded in place.
func (l *loader) decodeStageBody(decl *stageDecl, ctx *hcl.EvalContext) (*hcl.BodyContent, hcl.Diagnostics) {
	schema := &hcl.BodySchema{
		Attributes: stageAttributes,
		Blocks:     append(l.stepBlocks(true), hcl.BlockHeaderSchema{Type: "steps"}, hcl.BlockHeaderSchema{Type: "config"}),
	}
	return dynblock.Expand(decl.Body, ctx).Content(schema)
}

// evaluateStage evaluates one stage or image block. Steps keep document
// order across kinds.
func (l *loader) evaluateStage(mod *module, decl *stageDecl) *model.Stage {
	ctx := l.evalContext(mod)
	st := &model.Stage{
		Kind:      decl.Kind,
		Name:      decl.Name,
		DeclRange: decl.DeclRange,
		Range:     l.blockRange(decl.DeclRange),
	}
	content, diags := l.decodeStageBody(decl, ctx)
	l.addEval(diags)
	e := &evaluator{l: l, ctx: ctx}
	e.stageAttributes(decl, content.Attributes, st)
	e.stageBlocks(decl, content.Blocks, st)
	return st
}

// stageAttributes evaluates a stage's own attributes into st.
func (e *evaluator) stageAttributes(decl *stageDecl, attrs hcl.Attributes, st *model.Stage) {
	// A base reported as missing or invalid (HCL reports a missing
	// `from`) stands as scratch, so that the rest of the stage is still
	// checked and compiled.
	st.From.Base = &model.Scratch{}
	if attr, ok := attrs["from"]; ok {
		st.From.Range = attr.Expr.Range()
		if from, ok := e.reference(attr, true); ok {
			st.From.Base = from
		}
	}
	if p, ok := e.str(attrs, "platform"); ok {
		rng := attrs["platform"].Expr.Range()
		if d := model.CheckPlatform(p, rng); d != nil {
			e.l.add(d)
		} else {
			st.Platform, st.PlatformRange = p, rng
		}
	}
	for _, imageOnly := range []string{"tags", "annotations", "platforms", "cache_from", "cache_to"} {
		if attr, ok := attrs[imageOnly]; ok && decl.Kind == model.KindStage {
			e.l.add(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Image attribute on a stage",
				Detail: fmt.Sprintf("Only images are exported, so only an image block takes `%s`. Change stage %q to an image block, or remove `%s`.",
					imageOnly, decl.Name, imageOnly),
				Subject: attr.NameRange.Ptr(),
			})
			delete(attrs, imageOnly)
		}
	}
	if ps, ok := e.strs(attrs, "platforms", false); ok {
		rng := attrs["platforms"].Expr.Range()
		for _, p := range ps {
			if d := model.CheckPlatform(p, rng); d != nil {
				e.l.add(d)
				ps = nil
				break
			}
		}
		st.Platforms, st.PlatformsRange = ps, rng
	}
	if tags, ok := e.strs(attrs, "tags", false); ok {
		for _, t := range tags {
			if _, err := name.NewTag(t); err != nil {
				e.invalid(attrs["tags"], "Invalid image tag",
					fmt.Sprintf("%q is not a tag reference: %s. Write [REGISTRY/]REPOSITORY[:TAG].", t, err))
				continue
			}
			st.Tags = append(st.Tags, t)
		}
	}
	if v, ok := e.strs(attrs, "cache_from", true); ok {
		st.CacheFrom, st.CacheFromRange = v, attrs["cache_from"].Expr.Range()
	}
	if v, ok := e.strs(attrs, "cache_to", true); ok {
		st.CacheTo, st.CacheToRange = v, attrs["cache_to"].Expr.Range()
	}
	st.Annotations, _ = e.strMap(attrs, "annotations")
	st.Env = e.env(attrs, "env")
	st.Workdir, _ = e.str(attrs, "workdir")
	st.User = e.user(attrs)
	st.Shell = e.shell(attrs, "shell")
	if o, ok := e.str(attrs, "optimize"); ok {
		if e.oneOf(attrs["optimize"], o, "optimization level", "safe", "all") {
			st.Optimize = o
		}
	}
}

// stageBlocks evaluates a stage's steps, layers and config into st.
func (e *evaluator) stageBlocks(decl *stageDecl, blocks hcl.Blocks, st *model.Stage) {
	inherited := decl.defaultVars
	layerNames := map[string]hcl.Range{}
	for _, b := range blocks {
		switch b.Type {
		case "config":
			if st.Config != nil {
				e.l.add(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate config block",
					Detail: fmt.Sprintf("%s takes one config block and one was already given at %s. Merge the two.",
						capitalize(article(string(decl.Kind))), shortRange(st.Config.Range)),
					Subject: b.DefRange.Ptr(),
				})
				continue
			}
			st.Config = e.config(b)
		case "layer":
			st.Steps = append(st.Steps, e.layer(decl, b, inherited, layerNames))
		case "steps":
			st.Steps = append(st.Steps, e.group(decl, b, inherited, layerNames)...)
		default:
			st.Steps = append(st.Steps, e.step(b, inherited)...)
		}
	}
}

// layer evaluates a layer block.
func (e *evaluator) layer(decl *stageDecl, b *hcl.Block, inherited map[string]bool, layerNames map[string]hcl.Range) *model.Layer {
	ly := &model.Layer{Name: b.Labels[0], Range: e.l.blockRange(b.DefRange)}
	if prev, dup := layerNames[ly.Name]; dup {
		e.l.add(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate layer name",
			Detail: fmt.Sprintf("A layer named %q was already declared at %s in this %s. Rename one of them.",
				ly.Name, shortRange(prev), decl.Kind),
			Subject: b.LabelRanges[0].Ptr(),
		})
	} else {
		layerNames[ly.Name] = b.DefRange
	}
	ly.Steps = e.layerSteps(b.Body, inherited)
	return ly
}

// layerSteps evaluates the steps of a layer block's body (no nested
// layers).
func (e *evaluator) layerSteps(body hcl.Body, inherited map[string]bool) []model.Step {
	inner, diags := body.Content(&hcl.BodySchema{Blocks: e.l.stepBlocks(false)})
	e.l.addEval(diags)
	e.inLayer = true
	defer func() { e.inLayer = false }()
	var steps []model.Step
	for _, ib := range inner.Blocks {
		steps = append(steps, e.step(ib, inherited)...)
	}
	return steps
}

// evaluator evaluates the blocks of one stage.
type evaluator struct {
	l   *loader
	ctx *hcl.EvalContext
	// unknownCommand is set when a run step's command is unknown: it
	// uses a value whose error is reported elsewhere.
	unknownCommand bool
	// stack are the step definitions being expanded, outermost first;
	// inDef tells that the blocks are a definition's (whose variables
	// are its parameters, not the configuration's), inLayer that they
	// are inside a layer block.
	stack          []*stepDef
	inDef, inLayer bool
}

// step evaluates a step block. A step with an error is left out (after
// model.CheckStep has reported what else is wrong with its values), and
// so is a run step whose command depends on an error reported elsewhere:
// the partial Config that Load returns with errors then holds only steps
// that are sound, so compiling it reports new problems (such as missing
// copy sources), never the same ones again.
func (e *evaluator) step(b *hcl.Block, inherited map[string]bool) []model.Step {
	before := e.l.errors
	e.unknownCommand = false
	steps := e.evalStep(b, inherited)
	for _, st := range steps {
		for _, d := range model.CheckStep(st) {
			e.l.add(d)
		}
	}
	if e.l.errors > before || e.unknownCommand {
		return nil
	}
	return steps
}

func (e *evaluator) evalStep(b *hcl.Block, inherited map[string]bool) []model.Step {
	rng := e.l.blockRange(b.DefRange)
	vars := e.stepVars(b.DefRange, inherited)
	switch b.Type {
	case "run":
		if r := e.run(b); r != nil {
			r.Range, r.Vars = rng, vars
			return []model.Step{r}
		}
	case "copy":
		if c := e.copyStep(b); c != nil {
			c.Range, c.Vars, c.Context = rng, vars, e.l.dir
			return []model.Step{c}
		}
	case "add":
		if a := e.add(b); a != nil {
			a.Range, a.Vars, a.Context = rng, vars, e.l.dir
			return []model.Step{a}
		}
	case "mkdir":
		if m := e.mkdir(b); m != nil {
			m.Range, m.Vars = rng, vars
			return []model.Step{m}
		}
	default:
		if m, ok := e.l.macros[b.Type]; ok {
			return e.macro(b, m, rng, vars)
		}
		if b.Type == "use" {
			return e.useStep(b, rng, vars)
		}
		if d, ok := e.l.defs[b.Type]; ok {
			return e.callDef(b, d, rng, vars)
		}
	}
	return nil
}

// stepVars are the variables a step's block refers to (through locals
// too), plus those its stage's defaults refer to.
func (e *evaluator) stepVars(def hcl.Range, inherited map[string]bool) []string {
	if e.inDef {
		return nil // the caller's are set by callDef
	}
	set := map[string]bool{}
	for v := range inherited {
		set[v] = true
	}
	if sb := e.l.syntax.block(def); sb != nil {
		e.l.varsOf(referencesIn(traversalsIn(sb.Body)), set)
	}
	if len(set) == 0 {
		return nil
	}
	if e.l.prefix != "" {
		// A module's variables, as model.Config.Vars names them.
		prefixed := map[string]bool{}
		for v := range set {
			prefixed[e.l.prefix+"var."+v] = true
		}
		set = prefixed
	}
	return sortedKeys(set)
}

// reference evaluates a `from` attribute: a stage or image reference, or
// an image reference string ("scratch" is the empty base; allowScratch
// only changes what the error suggests).
func (e *evaluator) reference(attr *hcl.Attribute, allowScratch bool) (model.Base, bool) {
	val, ok := e.value(attr)
	if !ok {
		return nil, false
	}
	if val.Type() == stageRefType {
		ref := val.EncapsulatedValue().(*stageRef)
		if ref.Name != "" {
			return &model.Target{Name: ref.Name}, true
		}
		val = cty.StringVal(ref.Image) // the string result of a conditional
	}
	sval, err := convert.Convert(val, cty.String)
	if err != nil && e.l.alreadyReported(attr.Expr.Range()) {
		return nil, false // such as module.NAME without .image.X
	}
	if err != nil {
		e.invalid(attr, "Incorrect attribute value type",
			fmt.Sprintf("The %s value must be an image reference string or a stage reference such as stage.build, not %s.", attr.Name, val.Type().FriendlyName()))
		return nil, false
	}
	s := sval.AsString()
	switch {
	case s == "scratch":
		return &model.Scratch{}, true
	case quotedRef.MatchString(s):
		e.invalid(attr, "Quoted stage reference",
			fmt.Sprintf("%q is a string, so it would be read as an image name. Write the reference without quotes: %s = %s.", s, attr.Name, s))
		return nil, false
	}
	for _, kind := range []string{"stage", "image"} {
		if objs, ok := e.ctx.Variables[kind]; ok && objs.Type().IsObjectType() && objs.Type().HasAttribute(s) {
			// Docker reads FROM build as the stage build; HCL reads a
			// string as an image.
			e.l.add(&hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "String naming a " + kind,
				Detail:  fmt.Sprintf("%q is read as the image docker.io/library/%s, and this configuration has a %s named %s. For the %s, write %s = %s.%s (no quotes); for the image, write its full name (docker.io/library/%s).", s, s, kind, s, kind, attr.Name, kind, s, s),
				Subject: attr.Expr.Range().Ptr()})
			break
		}
	}
	ref, err := imageref.Parse(s)
	if err == nil && e.l.dir != "" {
		ref = ref.InDir(e.l.dir) // a module's oci: paths are relative to its directory
	}
	if err != nil {
		also := " or a stage reference such as stage.build"
		if allowScratch {
			also = ", scratch, or a stage reference such as stage.build"
		}
		e.l.add(model.InvalidImageRef(s, err, attr.Expr.Range(), also))
		return nil, false
	}
	return &model.Image{Ref: ref}, true
}
