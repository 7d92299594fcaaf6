package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/imgc-dev/imgc/imageio"
)

type imagesCmd struct {
	cacheFlags
	Reference string   `arg:"" optional:"" placeholder:"PATTERN" help:"List only the images whose name matches this pattern (* and ? wildcards; \"app\" finds localhost/app:1)."`
	Filter    []string `sep:"none" placeholder:"KEY=VALUE" help:"Filter the list (repeatable): reference=PATTERN, or dangling=true|false (images left without a name; imgc keeps none, so dangling=true lists nothing)."`
	Quiet     bool     `short:"q" help:"Print only the digests."`
}

func (c *imagesCmd) Run(e *env) error {
	f, err := parseImageFilters(c.Reference, c.Filter)
	if err != nil {
		return err
	}
	s, err := c.open()
	if err != nil {
		return err
	}
	imgs, err := s.Images()
	if err != nil {
		return err
	}
	if c.Quiet {
		seen := map[string]bool{}
		for _, im := range imgs {
			if f.match(im.Name) && !seen[im.Digest] {
				seen[im.Digest] = true
				fmt.Fprintln(e.stdout, im.Digest)
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDIGEST\tSIZE\tCREATED\tPLATFORMS")
	for _, im := range imgs {
		if !f.match(im.Name) {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", im.Name, shortDigest(im.Digest), humanSize(im.Size), ago(im.Created), platformsColumn(im.Platforms))
	}
	return tw.Flush()
}

type historyCmd struct {
	cacheFlags
	storePlatform
	Name string `arg:"" help:"An image in the local store (a tag, or an image block's name)."`
}

func (c *historyCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	p, err := c.platform()
	if err != nil {
		return err
	}
	hist, err := s.HistoryFor(c.Name, p)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER\tSIZE\tSOURCE\tCREATED BY")
	for _, h := range hist {
		layer := h.Digest
		if h.Empty {
			layer = "<none>"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", shortDigest(layer), humanSize(h.Size), orDash(relPath(h.Source)), truncate(h.CreatedBy, 70))
	}
	return tw.Flush()
}

type saveCmd struct {
	cacheFlags
	Name   string `arg:"" help:"An image in the local store."`
	Output string `short:"o" required:"" placeholder:"FILE.tar" help:"Where to write the docker-loadable tarball."`
}

func (c *saveCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	tmp := c.Output + ".imgc-tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("creating %s: %w", c.Output, err)
	}
	if err := imageio.Save(s, c.Name, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", c.Output, err)
	}
	return os.Rename(tmp, c.Output)
}

type pushCmd struct {
	cacheFlags
	Name string `arg:"" help:"An image in the local store."`
	Dest string `arg:"" optional:"" help:"Where to push (default: NAME itself, which must then be a registry reference)."`
}

func (c *pushCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	dest := c.Dest
	if dest == "" {
		dest = c.Name
	}
	if err := imageio.Push(e.ctx, s, c.Name, dest); err != nil {
		var pe *imageio.PushError
		if errors.As(err, &pe) {
			// This command is the push: no hint to run it again.
			return fmt.Errorf("pushing %s: %s", pe.Dest, plainError(pe.Err))
		}
		return err
	}
	fmt.Fprintf(e.stdout, "pushed %s\n", dest)
	return nil
}

type cacheCmd struct {
	Ls    cacheLsCmd    `cmd:"" help:"List cached layers."`
	Du    cacheDuCmd    `cmd:"" help:"Show how much disk the cache uses."`
	Prune cachePruneCmd `cmd:"" help:"Empty the cache: remove every snapshot, every cache mount's content (mount type cache), and the layers no image in the store needs."`
}

type cacheLsCmd struct{ cacheFlags }

func (c *cacheLsCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	entries, err := s.CacheList()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CACHE KEY\tLAYER\tSIZE\tLAST USED")
	for _, en := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", en.Key.Short(), shortDigest(en.Digest), humanSize(en.Size), ago(en.LastUsed))
	}
	return tw.Flush()
}

type cacheDuCmd struct{ cacheFlags }

func (c *cacheDuCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	u, err := s.DiskUsage()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "blobs\t%s\n", humanSize(u.Blobs))
	fmt.Fprintf(tw, "snapshots\t%s\n", humanSize(u.Snapshots))
	fmt.Fprintf(tw, "cache mounts\t%s\n", humanSize(u.Mounts))
	fmt.Fprintf(tw, "total\t%s\n", humanSize(u.Blobs+u.Snapshots+u.Mounts))
	return tw.Flush()
}

type cachePruneCmd struct{ cacheFlags }

func (c *cachePruneCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	freed, err := s.Prune()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "freed %s\n", humanSize(freed))
	return nil
}

func shortDigest(d string) string {
	if len(d) > 19 && d[:7] == "sha256:" {
		return d[7:19]
	}
	return d
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return agoUnit(int(d.Minutes()), "minute")
	case d < 48*time.Hour:
		return agoUnit(int(d.Hours()), "hour")
	}
	return agoUnit(int(d.Hours()/24), "day")
}

func agoUnit(n int, unit string) string {
	if n == 1 {
		return "1 " + unit + " ago"
	}
	return fmt.Sprintf("%d %ss ago", n, unit)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// truncate shortens s to n characters on one line, for table cells.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

type inspectCmd struct {
	cacheFlags
	storePlatform
	Name string `arg:"" help:"An image in the local store."`
}

func (c *inspectCmd) Run(e *env) error {
	s, err := c.open()
	if err != nil {
		return err
	}
	p, err := c.platform()
	if err != nil {
		return err
	}
	in, err := s.InspectFor(c.Name, p)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // COPY <<EOF and RUN a > b as written
	return enc.Encode(in)
}
