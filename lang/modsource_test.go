package lang

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imgc-dev/imgc/model"
)

// gitRepo makes a repository whose tag v1 holds, under mod/, a module
// with an image and a step definition, and whose later commit on the
// default branch changes the image's step.
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed (make deps installs it)")
	}
	repo := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(word string) {
		t.Helper()
		src := fmt.Sprintf(`variable "word" {
  default = %q
}

image "runtime" {
  from = "scratch"
  run {
    sh = "echo ${var.word}"
  }
}

step "greet" {
  variable "who" {
    type = string
  }
  run {
    sh = "echo hello ${var.who}"
  }
}
`, word)
		if err := os.MkdirAll(filepath.Join(repo, "mod"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "mod", "mod.image.hcl"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("init", "--quiet", "--initial-branch=main")
	write("v1")
	run("add", ".")
	run("commit", "--quiet", "-m", "v1")
	run("tag", "v1")
	write("v2")
	run("commit", "--quiet", "-am", "v2")
	return repo
}

// gitDaemon serves the repositories under dir on a loopback port.
func gitDaemon(t *testing.T, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--base-path="+dir,
		"--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting git daemon: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(time.Minute); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("git daemon does not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGitModules(t *testing.T) {
	repo := gitRepo(t)
	addr := gitDaemon(t, filepath.Dir(repo))
	for name, src := range map[string]string{
		"git daemon at v1": "git::git://" + addr + "/" + filepath.Base(repo) + "//mod?ref=v1",
		"file at v1":       "git::file://" + repo + "//mod?ref=v1",
		"file at main":     "git::file://" + repo + "//mod",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(ModuleCacheEnv, t.TempDir())
			dir := t.TempDir()
			cfgSrc := fmt.Sprintf(`module "base" {
  source = %q
}

image "app" {
  from = module.base.image.runtime
  use "module.base.step.greet" {
    who = "app"
  }
}
`, src)
			if err := os.WriteFile(filepath.Join(dir, "main.image.hcl"), []byte(cfgSrc), 0o644); err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second load reuses the checkout
				cfg, diags := Load(dir, Options{})
				if diags.HasErrors() {
					t.Fatalf("loading: %s", diags.Error())
				}
				want := "echo v1"
				if name == "file at main" {
					want = "echo v2"
				}
				var got []string
				for _, st := range cfg.Stages {
					for _, s := range st.Steps {
						got = append(got, st.Name+": "+s.(*model.Run).Command.(*model.Sh).Script)
					}
				}
				if diff := cmp.Diff([]string{"module.base.image.runtime: " + want, "app: echo hello app"}, got); diff != "" {
					t.Errorf("steps (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestGitModuleRefusals(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed (make deps installs it)")
	}
	t.Setenv(ModuleCacheEnv, t.TempDir())
	marker := filepath.Join(t.TempDir(), "ran")
	for src, want := range map[string]string{
		"ext::sh -c touch% " + marker:        "git clone",
		"file:///nowhere.git?ref=--orphan=x": "starts with a dash",
		"file:///nowhere.git//../../etc":     "leaves the repository",
		"?ref=main":                          "names no repository",
	} {
		_, err := fetchGit(src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("fetchGit(%q) = %v, want an error with %q", src, err, want)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("an ext:: source ran its command")
	}
}

// A module block whose source is missing or not a constant is reported
// once: its uses are not also "Reference to undeclared module".
func TestUnsourcedModuleReportedOnce(t *testing.T) {
	for name, source := range map[string]string{
		"variable": `source = "./${var.v}"`,
		"missing":  ``,
	} {
		dir := writeConfig(t, map[string]string{
			"m/m.image.hcl": "image \"x\" {\n  from = \"scratch\"\n}\n",
			"a.image.hcl": "variable \"v\" {\n  type    = string\n  default = \"m\"\n}\n" +
				"module \"svc\" {\n  " + source + "\n}\n" +
				"image \"app\" {\n  from = module.svc.image.x\n}\n",
		})
		_, diags := Load(dir, Options{})
		if len(diags) != 1 {
			t.Errorf("%s: %d diagnostics, want 1: %v", name, len(diags), diags)
			continue
		}
		if name == "variable" && !strings.Contains(diags[0].Detail, "A module's source is a constant") {
			t.Errorf("%s: %v, want it to say the source is a constant", name, diags)
		}
	}
}

// A bare directory name as a module source suggests the ./ form when the
// directory is there.
func TestBareModuleSourceSuggestsDotSlash(t *testing.T) {
	dir := writeConfig(t, map[string]string{
		"modules/svc/m.image.hcl": "image \"x\" {\n  from = \"scratch\"\n}\n",
		"a.image.hcl":             "module \"svc\" {\n  source = \"modules/svc\"\n}\nimage \"app\" {\n  from = module.svc.image.x\n}\n",
	})
	_, diags := Load(dir, Options{})
	if !strings.Contains(diags.Error(), `Did you mean "./modules/svc"?`) {
		t.Errorf("diagnostics %v, want the ./ form suggested", diags)
	}
}

// A value of the wrong type says where in the value it is wrong, and the
// type as written, optional attributes and all, as Terraform does.
func TestInvalidVariableValueNamesThePlace(t *testing.T) {
	dir := writeConfig(t, map[string]string{
		"a.image.hcl": "variable \"services\" {\n  type    = map(object({ port = number, debug = optional(bool, false) }))\n  default = {}\n}\nimage \"app\" {\n  from = \"scratch\"\n}\n",
	})
	_, diags := Load(dir, Options{Vars: FlagVars(map[string]string{"services": `{api={port="x"}}`})})
	for _, want := range []string{`element "api": attribute "port": a number is required`, "optional(bool, false)"} {
		if !strings.Contains(diags.Error(), want) {
			t.Errorf("diagnostics %v, want %q", diags, want)
		}
	}
}
