package store

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/sys/unix"
)

// Run steps write their layers through volatile overlays (nothing is
// synced at unmount) and a build flushes the store before its outputs (and
// again at its end if blobs came in since). In
// between, a power loss or kernel crash can lose what a step wrote while
// the store already lists it: a snapshot renamed into place whose files
// never reached the disk. So a build that writes that way first leaves a
// durable marker, unsynced/<id> holding its start time, and removes it once
// the store is flushed (MarkUnsynced, Unsynced.Done). A marker that no live
// build holds and that is older than the machine's last boot means such a
// crash may have happened: RecoverUnsynced then removes the snapshots
// changed since, and the blobs changed since whose content no longer
// matches their digest; the next build makes them again. (A marker left by
// a build that was killed without a crash only goes: the page cache kept
// everything it wrote.)

// Unsynced is a build's marker (see MarkUnsynced).
type Unsynced struct {
	path string
	lk   *flock.Flock
}

// MarkUnsynced leaves a durable marker saying that writes from now on may
// not reach the disk until the store is flushed.
func (s *Store) MarkUnsynced() (*Unsynced, error) {
	dir := s.path("unsynced")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("marking the cache unsynced: %w", err)
	}
	var id [8]byte
	rand.Read(id[:])
	path := filepath.Join(dir, hex.EncodeToString(id[:]))
	lk := flock.New(path + ".lock")
	if err := lk.Lock(); err != nil {
		return nil, fmt.Errorf("marking the cache unsynced: %w", err)
	}
	if err := writeDurably(path, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)+"\n")); err != nil {
		lk.Unlock()
		os.Remove(path + ".lock")
		return nil, fmt.Errorf("marking the cache unsynced: %w", err)
	}
	return &Unsynced{path: path, lk: lk}, nil
}

// Done removes the marker when the store was flushed after everything it
// covers was written, and otherwise leaves it for RecoverUnsynced.
func (u *Unsynced) Done(flushed bool) {
	if flushed {
		os.Remove(u.path)
	}
	u.lk.Unlock()
	if flushed {
		os.Remove(u.path + ".lock")
	}
}

// writeDurably writes data to path and syncs the file and its directory.
func writeDurably(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// RecoverUnsynced handles the markers of builds that ended without
// flushing the store (see MarkUnsynced). It takes the store's lock
// exclusively when there is anything to remove, so call it before
// LockShared. It returns what it removed, for a warning.
func (s *Store) RecoverUnsynced() (removed []string, err error) {
	dir := s.path("unsynced")
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		return nil, nil // no marker, or no directory: nothing to recover
	}
	boot, err := bootTime()
	if err != nil {
		return nil, fmt.Errorf("recovering the cache: %w", err)
	}
	var since time.Time
	var stale []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".lock") {
			continue
		}
		path := filepath.Join(dir, name)
		lk := flock.New(path + ".lock")
		if ok, err := lk.TryLock(); err != nil || !ok {
			continue // a live build's
		}
		start, ok := markerTime(path)
		if ok && start.Before(boot) && (since.IsZero() || start.Before(since)) {
			since = start
		}
		stale = append(stale, path)
		lk.Unlock()
	}
	if !since.IsZero() {
		lk := s.storeLock()
		if err := lk.Lock(); err != nil {
			return nil, fmt.Errorf("recovering the cache: %w", err)
		}
		defer lk.Unlock()
		removed = s.removeChangedSince(since)
	}
	for _, p := range stale {
		os.Remove(p)
		os.Remove(p + ".lock")
	}
	return removed, nil
}

// markerTime reads a marker's start time. A marker without one was cut
// short before MarkUnsynced returned, so nothing was written under it.
func markerTime(path string) (time.Time, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// removeChangedSince removes the snapshots changed since t and the blobs
// changed since t whose content does not match their digest.
func (s *Store) removeChangedSince(t time.Time) (removed []string) {
	snaps, _ := os.ReadDir(s.path("snapshots"))
	for _, e := range snaps {
		p := s.path("snapshots", e.Name())
		if changedSince(p, t) {
			trash, err := s.TempDir("stale-snapshot-")
			if err == nil && os.Rename(p, filepath.Join(trash, "s")) == nil {
				os.RemoveAll(trash)
				removed = append(removed, "snapshots/"+e.Name())
			}
		}
	}
	blobs, _ := os.ReadDir(s.path("oci", "blobs", "sha256"))
	for _, e := range blobs {
		p := s.path("oci", "blobs", "sha256", e.Name())
		if changedSince(p, t) && !contentMatches(p, e.Name()) {
			if os.Remove(p) == nil {
				removed = append(removed, "blobs/sha256/"+e.Name())
			}
		}
	}
	return removed
}

func changedSince(path string, t time.Time) bool {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false
	}
	return !time.Unix(st.Ctim.Unix()).Before(t) || !time.Unix(st.Mtim.Unix()).Before(t)
}

func contentMatches(path, hexDigest string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == hexDigest
}

// bootTime is when the machine last booted (/proc/stat's btime).
func bootTime() (time.Time, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("reading the boot time: %w", err)
			}
			return time.Unix(n, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("reading the boot time: no btime in /proc/stat")
}
