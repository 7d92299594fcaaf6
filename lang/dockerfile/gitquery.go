package dockerfile

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/imgc-dev/imgc/model"
)

// gitQueryKeys are the query keys of a git source in BuildKit v0.34.2
// (dfgitutil's GitRef.loadQuery), for diagnostics.
const gitQueryKeys = "ref, tag, branch, subdir, commit, checksum, keep-git-dir, submodules, mtime and fetch-by-commit"

// gitQuery reads a git source's query into g as BuildKit v0.34.2's
// dfgitutil does, and pins the commit (commit=, checksum= or, given as
// checksum, ADD --checksum) last, once fetch-by-commit is known.
//
//   - submodules (a boolean; bare means true): false leaves them out;
//   - mtime=checkout|commit is checked and, as by BuildKit's ADD (only a
//     git build context uses it), has no effect: files keep the
//     checkout's times;
//   - fetch-by-commit (a boolean) trusts the commit without checking
//     that the ref names it, so a ref and a commit may both be given.
func gitQuery(g *model.GitSource, query, checksum string) error {
	values, err := url.ParseQuery(query)
	if err != nil {
		return fmt.Errorf("reading the query: %w", err)
	}
	commit, byCommit := checksum, false
	for _, k := range sortedKeys(values) {
		v := values[k]
		if len(v) > 1 {
			return fmt.Errorf("query %q has several values", k)
		}
		val := v[0]
		switch k {
		case "submodules", "keep-git-dir", "fetch-by-commit":
		default:
			if val == "" {
				return fmt.Errorf("query %q has no value", k)
			}
		}
		switch k {
		case "ref", "tag", "branch":
			if err := queryRef(g, k, val); err != nil {
				return err
			}
		case "subdir":
			if g.Subdir != "" && g.Subdir != val {
				return fmt.Errorf("the subdirectories %q and %q conflict", g.Subdir, val)
			}
			g.Subdir = val
		case "keep-git-dir":
			if g.KeepGitDir, err = queryBool(k, val); err != nil {
				return err
			}
		case "submodules":
			with, err := queryBool(k, val)
			if err != nil {
				return err
			}
			g.SkipSubmodules = !with
		case "fetch-by-commit":
			if byCommit, err = queryBool(k, val); err != nil {
				return err
			}
		case "mtime":
			if val != "checkout" && val != "commit" {
				return fmt.Errorf("mtime=%q is neither \"checkout\" nor \"commit\"", val)
			}
		case "commit", "checksum":
			if commit != "" && commit != val {
				return fmt.Errorf("the commits %s and %s conflict", commit, val)
			}
			commit = val
		default:
			return fmt.Errorf("the git query %q is not one BuildKit v0.34.2 has", k)
		}
	}
	if commit != "" {
		return pinCommit(g, commit, byCommit)
	}
	return nil
}

// queryRef reads a query's ref=, tag= or branch=.
func queryRef(g *model.GitSource, k, ref string) error {
	if k == "tag" && !strings.HasPrefix(ref, "refs/tags/") {
		ref = "refs/tags/" + ref
	}
	if k == "branch" && !strings.HasPrefix(ref, "refs/heads/") {
		ref = "refs/heads/" + ref
	}
	if g.Ref != "" && g.Ref != ref {
		return fmt.Errorf("the refs %q and %q conflict", g.Ref, ref)
	}
	g.Ref = ref
	return nil
}

// queryBool reads a boolean query value; a bare key is true.
func queryBool(k, v string) (bool, error) {
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q is not a boolean", k, v)
	}
	return b, nil
}

// pinCommit pins a git source's commit (a query's commit= or
// --checksum): imgc checks out exactly that commit. A ref given too must
// name it, which the build checks (g.Commit), as BuildKit does; with
// trust (fetch-by-commit) the commit is taken as it is.
func pinCommit(g *model.GitSource, commit string, trust bool) error {
	if !fetchIsCommit(commit) {
		return fmt.Errorf("the commit %q is not a full commit id", commit)
	}
	if g.Ref != "" && g.Ref != commit && !trust {
		g.Commit = commit
		return nil
	}
	g.Ref = commit
	return nil
}
