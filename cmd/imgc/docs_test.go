package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// TestCLIDocsCoverHelp: docs/cli.md has a section for every command that
// --help lists (a heading naming it, such as "## build" or "### cache
// prune"), and that section names every flag the command's --help shows,
// long and short, so the reference cannot fall behind the code.
func TestCLIDocsCoverHelp(t *testing.T) {
	data, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	var c cli
	parser, err := kong.New(&c, kong.Name("imgc"), kong.Vars{"passes": optionalPasses(), "version": "imgc test"})
	if err != nil {
		t.Fatal(err)
	}
	global := map[string]bool{}
	for _, f := range parser.Model.Node.Flags {
		global[f.Name] = true
		if !strings.Contains(doc, "--"+f.Name) {
			t.Errorf("docs/cli.md does not mention the global flag --%s", f.Name)
		}
	}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, child := range n.Children {
			if child.Hidden {
				continue
			}
			if len(child.Children) > 0 {
				walk(child)
				continue
			}
			path := strings.TrimPrefix(child.FullPath(), "imgc ")
			section, ok := docSection(doc, path)
			if !ok {
				t.Errorf("docs/cli.md has no section for imgc %s (a heading such as \"## %s\")", path, path)
				continue
			}
			for _, f := range child.Flags {
				if global[f.Name] || f.Hidden {
					continue
				}
				// Terraform's one-dash spelling (-detailed-exitcode) counts too.
				if !regexp.MustCompile(`(^|[^-\w])--?` + regexp.QuoteMeta(f.Name) + `\b`).MatchString(section) {
					t.Errorf("docs/cli.md, section %q: no --%s, which imgc %s --help lists", path, f.Name, path)
				}
				if f.Short != 0 && !regexp.MustCompile(`(^|[^-\w])-`+string(f.Short)+`\b`).MatchString(section) {
					t.Errorf("docs/cli.md, section %q: no -%c (--%s's short form)", path, f.Short, f.Name)
				}
			}
		}
	}
	walk(parser.Model.Node)
}

// docSection is the text under the heading that names the command path
// (with or without "imgc ", in backticks or not), up to the next heading of
// the same or a higher level, and the introduction of the section that
// holds it (flags that a group of commands shares are described there).
func docSection(doc, path string) (string, bool) {
	lines := strings.Split(doc, "\n")
	intro := ""
	for i, l := range lines {
		if level := len(l) - len(strings.TrimLeft(l, "#")); level > 0 && level < 3 {
			var b strings.Builder
			for _, m := range lines[i+1:] {
				if strings.HasPrefix(m, "#") {
					break
				}
				b.WriteString(m + "\n")
			}
			intro = b.String()
		}
		level := len(l) - len(strings.TrimLeft(l, "#"))
		if level == 0 || level > 4 {
			continue
		}
		title := strings.Trim(strings.TrimSpace(l[level:]), "`")
		title = strings.TrimPrefix(title, "imgc ")
		if title != path {
			continue
		}
		var b strings.Builder
		if level >= 3 {
			b.WriteString(intro)
		}
		for _, m := range lines[i+1:] {
			if ml := len(m) - len(strings.TrimLeft(m, "#")); ml > 0 && ml <= level && strings.HasPrefix(m[ml:], " ") {
				break
			}
			b.WriteString(m + "\n")
		}
		return b.String(), true
	}
	return "", false
}
