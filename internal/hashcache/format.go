package hashcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"syscall"
)

// A shard file is
//
//	magic (8 bytes) | count (uvarint) | count entries | CRC-32C of all before (4 bytes, LE)
//
// and an entry, in path order, is
//
//	shared (uvarint) | n (uvarint) | n bytes | size, mtime, inode, ctime (8 bytes each, LE) | sha256 (32 bytes)
//
// its path being the first shared bytes of the previous entry's path
// followed by the n bytes. Paths of one tree share long prefixes, so a
// 50,000-file context takes about 90 bytes an entry where JSON took 200.
var magic = [8]byte{'i', 'm', 'g', 'c', 'h', 'c', 0, 2}

const (
	fixedSize = 4*8 + sha256.Size
	// maxPath bounds one path (Linux's PATH_MAX).
	maxPath = 4096
	// maxShardFile bounds what is read of one shard file.
	maxShardFile = (maxEntries/shards + 1) * (maxPath + fixedSize + 8)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("corrupt hash cache shard")

// loadShard adds the entries of the shard file at path to into; a file
// that is missing or not a well-formed shard adds nothing.
func loadShard(path string, into map[string]*entry) {
	f, err := openRegular(path)
	if err != nil {
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxShardFile {
		return
	}
	// Read into a buffer of the size the stat gave, bounded above; a file
	// that grew meanwhile fails its checksum.
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return
	}
	m, err := decodeShard(data)
	if err != nil {
		return
	}
	for p, e := range m {
		into[p] = e
	}
}

// openRegular is os.Open for a file about to be read whole, without
// offering it to the runtime's poller, which a regular file refuses:
// os.Open spends four fcntl and an epoll_ctl on that, for each of the
// shards a plan or build loads.
func openRegular(path string) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}

// decodeShard decodes a whole shard file, or fails without a partial
// result.
func decodeShard(data []byte) (map[string]*entry, error) {
	if len(data) < len(magic)+1+4 || !bytes.Equal(data[:len(magic)], magic[:]) {
		return nil, errCorrupt
	}
	body, tail := data[:len(data)-4], data[len(data)-4:]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(tail) {
		return nil, errCorrupt
	}
	r := body[len(magic):]
	count, n := binary.Uvarint(r)
	// Each entry takes at least fixedSize+2 bytes.
	if n <= 0 || count > uint64(len(r))/(fixedSize+2) {
		return nil, errCorrupt
	}
	r = r[n:]
	entries := make([]entry, count)
	out := make(map[string]*entry, count)
	// All paths go into one buffer, made a string once.
	// Paths take at most twice their compressed size, as a rule.
	paths := make([]byte, 0, 2*len(r))
	ends := make([]int, count)
	prev := 0 // start of the previous path in paths
	for i := range entries {
		shared, n1 := binary.Uvarint(r)
		if n1 <= 0 {
			return nil, errCorrupt
		}
		r = r[n1:]
		suffix, n2 := binary.Uvarint(r)
		prevLen := len(paths) - prev
		if n2 <= 0 || shared > uint64(prevLen) || suffix > maxPath || shared+suffix > maxPath || shared+suffix == 0 ||
			uint64(len(r)-n2) < suffix+fixedSize {
			return nil, errCorrupt
		}
		r = r[n2:]
		start := len(paths)
		paths = append(paths, paths[prev:prev+int(shared)]...)
		paths = append(paths, r[:suffix]...)
		r = r[suffix:]
		prev = start
		ends[i] = len(paths)
		e := &entries[i]
		e.size = int64(binary.LittleEndian.Uint64(r[0:]))
		e.mtime = int64(binary.LittleEndian.Uint64(r[8:]))
		e.ino = binary.LittleEndian.Uint64(r[16:])
		e.ctime = int64(binary.LittleEndian.Uint64(r[24:]))
		copy(e.sum[:], r[32:fixedSize])
		r = r[fixedSize:]
	}
	if len(r) != 0 {
		return nil, errCorrupt
	}
	all := string(paths)
	start := 0
	for i := range entries {
		out[all[start:ends[i]]] = &entries[i]
		start = ends[i]
	}
	return out, nil
}

// encodeShard encodes the entries to persist: those used in this run
// (unless too recent to trust) first, then others up to the shard's
// bound.
func encodeShard(entries map[string]*entry) []byte {
	keep := make([]string, 0, len(entries))
	for p, e := range entries {
		if e.used && !e.fresh {
			keep = append(keep, p)
		}
	}
	for p, e := range entries {
		if len(keep) >= maxEntries/shards {
			break
		}
		if !e.used {
			keep = append(keep, p)
		}
	}
	sort.Strings(keep)
	buf := make([]byte, 0, len(magic)+binary.MaxVarintLen64+len(keep)*(fixedSize+24)+4)
	buf = append(buf, magic[:]...)
	buf = binary.AppendUvarint(buf, uint64(len(keep)))
	prev := ""
	for _, p := range keep {
		shared := 0
		for shared < len(p) && shared < len(prev) && p[shared] == prev[shared] {
			shared++
		}
		buf = binary.AppendUvarint(buf, uint64(shared))
		buf = binary.AppendUvarint(buf, uint64(len(p)-shared))
		buf = append(buf, p[shared:]...)
		e := entries[p]
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.size))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.mtime))
		buf = binary.LittleEndian.AppendUint64(buf, e.ino)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.ctime))
		buf = append(buf, e.sum[:]...)
		prev = p
	}
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// saveShard writes entries to the shard file path in dir atomically.
func saveShard(dir, path string, entries map[string]*entry) error {
	data := encodeShard(entries)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".shard-*")
	if err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing hash cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing hash cache: %w", err)
	}
	return nil
}
