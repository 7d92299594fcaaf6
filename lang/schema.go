package lang

import (
	"regexp"

	"github.com/hashicorp/hcl/v2"
)

// The schemas of a stage's attributes and of the blocks inside it, and the
// patterns their values must match. Decoding a block against its schema
// gives its raw attributes; evaluating them is eval_*.go's.

var stageAttributes = []hcl.AttributeSchema{
	{Name: "from", Required: true},
	{Name: "platform"},
	{Name: "platforms"},
	{Name: "tags"},
	{Name: "annotations"},
	{Name: "cache_from"},
	{Name: "cache_to"},
	{Name: "env"},
	{Name: "workdir"},
	{Name: "user"},
	{Name: "shell"},
	{Name: "optimize"},
}

var runSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "sh"}, {Name: "exec"}, {Name: "env"}, {Name: "workdir"}, {Name: "user"},
		{Name: "shell"}, {Name: "network"}, {Name: "cache"}, {Name: "cache_key"},
		{Name: "reads"}, {Name: "writes"}, {Name: "script"}, {Name: "script_name"}, {Name: "security"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "mount", LabelNames: []string{"type"}}, {Type: "device", LabelNames: []string{"name"}}},
}

var deviceSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "required"}}}

var mountSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "target"}, {Name: "id"}, {Name: "sharing"}, {Name: "source"}, {Name: "from"},
		{Name: "readonly"}, {Name: "required"}, {Name: "mode"}, {Name: "uid"}, {Name: "gid"},
		{Name: "size"}, {Name: "env"},
	},
}

// mountArguments are the arguments each mount type takes.
var mountArguments = map[string][]string{
	"bind":   {"target", "source", "from", "readonly"},
	"cache":  {"target", "id", "sharing", "source", "from", "readonly", "mode", "uid", "gid"},
	"secret": {"target", "id", "env", "required", "mode", "uid", "gid"},
	"ssh":    {"target", "id", "required", "mode", "uid", "gid"},
	"tmpfs":  {"target", "size"},
}

var copySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "src"}, {Name: "content"}, {Name: "name"}, {Name: "dest", Required: true}, {Name: "from"},
		{Name: "exclude"}, {Name: "chown"}, {Name: "chmod"}, {Name: "link"}, {Name: "parents"},
	},
}

var addSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "src"}, {Name: "url"}, {Name: "checksum"}, {Name: "git"}, {Name: "ref"}, {Name: "subdir"},
		{Name: "keep_git_dir"}, {Name: "submodules"}, {Name: "dest", Required: true}, {Name: "extract"}, {Name: "chown"}, {Name: "chmod"}, {Name: "link"}, {Name: "exclude"},
	},
}

var mkdirSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "path", Required: true}, {Name: "user"}},
}

var configSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "entrypoint"}, {Name: "cmd"}, {Name: "env"}, {Name: "user"}, {Name: "workdir"},
		{Name: "labels"}, {Name: "expose"}, {Name: "volumes"}, {Name: "stop_signal"},
		{Name: "onbuild"}, {Name: "shell"}, {Name: "author"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "healthcheck"}},
}

var healthcheckSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "test", Required: true}, {Name: "interval"}, {Name: "timeout"},
		{Name: "start_period"}, {Name: "start_interval"}, {Name: "retries"},
	},
}

var (
	chmodPattern    = regexp.MustCompile(`^[0-7]{3,4}$`)
	chownPattern    = regexp.MustCompile(`^[^:\s]+(:[^:\s]+)?$`)
	checksumPattern = regexp.MustCompile(`^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$`)
	quotedRef       = regexp.MustCompile(`^(stage|image)\.[A-Za-z_][A-Za-z0-9_-]*$`)
)

// stepBlocks are the block types that make steps; layer bodies hold the
// same minus layer itself.
func (l *loader) stepBlocks(withLayer bool) []hcl.BlockHeaderSchema {
	blocks := []hcl.BlockHeaderSchema{{Type: "run"}, {Type: "copy"}, {Type: "add"}, {Type: "mkdir"}}
	if withLayer {
		blocks = append(blocks, hcl.BlockHeaderSchema{Type: "layer", LabelNames: []string{"name"}})
	}
	for _, name := range sortedKeys(l.macros) {
		blocks = append(blocks, hcl.BlockHeaderSchema{Type: name})
	}
	blocks = append(blocks, hcl.BlockHeaderSchema{Type: "use", LabelNames: []string{"step"}})
	for _, name := range sortedKeys(l.defs) {
		blocks = append(blocks, hcl.BlockHeaderSchema{Type: name})
	}
	return blocks
}
