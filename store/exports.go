package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// FileStamp identifies one state of a file without reading it: its
// device, inode, size and modification and change times. Any write to the
// file changes its change time, which no one can set back, and a rename
// over it changes its inode.
type FileStamp struct {
	Path  string `json:"path"`
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"` // nanoseconds since the epoch
	Ctime int64  `json:"ctime"`
}

// StampFile reads the stamp of the file at path, not following a last
// symlink.
func StampFile(path string) (FileStamp, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return FileStamp{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	return FileStamp{Path: path, Dev: st.Dev, Ino: st.Ino, Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}, nil
}

// Unchanged tells whether the file at fs.Path is still in the state fs.
func (fs FileStamp) Unchanged() bool {
	now, err := StampFile(fs.Path)
	return err == nil && now == fs
}

// ExportRecord is what an export wrote to one destination: a key naming
// the content (output type, images and names, format version) and the
// stamps of the files it wrote, as read right after writing them.
type ExportRecord struct {
	Dest  string      `json:"dest"`
	Key   string      `json:"key"`
	Files []FileStamp `json:"files"`
}

func (s *Store) exportPath(dest string) string {
	sum := sha256.Sum256([]byte(dest))
	return s.path("exports", hex.EncodeToString(sum[:])+".json")
}

// ExportUpToDate tells whether the last export recorded for dest (an
// absolute path) had key and every file it wrote is unchanged since: then
// writing it again would write the same bytes.
func (s *Store) ExportUpToDate(dest, key string) bool {
	data, err := os.ReadFile(s.exportPath(dest))
	if err != nil {
		return false
	}
	var rec ExportRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Dest != dest || rec.Key != key || len(rec.Files) == 0 {
		return false
	}
	for _, f := range rec.Files {
		if !f.Unchanged() {
			return false
		}
	}
	return true
}

// RecordExport remembers that the export key was written to dest (an
// absolute path) as the files stamped in files.
func (s *Store) RecordExport(dest, key string, files []FileStamp) error {
	data, err := json.Marshal(ExportRecord{Dest: dest, Key: key, Files: files})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.path("exports"), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(s.exportPath(dest), data)
}

// ForgetExport drops the record of dest, before an export that may fail
// half way writes to it.
func (s *Store) ForgetExport(dest string) {
	os.Remove(s.exportPath(dest))
}

// EnsureBlob makes the blob d local when it is a layer of a stored image
// that stayed in a registry (see SetBlobFetcher), for writers that read
// BlobPath directly.
func (s *Store) EnsureBlob(ctx context.Context, d v1.Hash) error {
	return s.ensureBlob(ctx, d)
}
