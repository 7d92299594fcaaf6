package overlay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// EmptyDir is the empty directory used as the lower dir of an overlay with
// an upper and no lowers; Mount creates it and refuses it when not empty.
var EmptyDir = "/run/imgc-overlay-empty"

// fixedOptions turn off features whose upper dirs no layer tar can express
// (renamed directories, metadata-only copy-ups) or that tie an upper dir to
// one set of lowers (index).
var fixedOptions = [][2]string{{"redirect_dir", "off"}, {"metacopy", "off"}, {"index", "off"}}

// Mount mounts an overlay at target with lowers (TOP FIRST), and upper/work (both "" = read-only
// mount of the lowers alone; a single lower with no upper is then a read-only bind mount).
// With zero lowers and an upper, an empty directory serves as the lower.
// There is no limit on the length of the lower dir list below the kernel's
// own limit on the number of layers.
func Mount(target string, lowers []string, upper, work string) error {
	return mount(target, lowers, upper, work, false)
}

// MountVolatile is Mount with the overlay's "volatile" option (Linux 5.10
// or later; plain Mount where the kernel lacks it): the overlay never
// flushes its upper dir's filesystem. Without it, every unmount of a
// writable overlay syncs that whole filesystem (syncfs), which costs a
// trivial run step more than anything but runc itself. What the step wrote
// stays in the page cache like any unsynced write, and the caller flushes
// it when it must be durable (engine/local syncs the store once per
// build). The kernel marks work as used by a volatile mount and refuses to
// mount it again: give each mount a fresh work dir.
func MountVolatile(target string, lowers []string, upper, work string) error {
	if upper == "" {
		return fmt.Errorf("mounting overlay at %s: a volatile mount needs an upper dir", target)
	}
	return mount(target, lowers, upper, work, true)
}

func mount(target string, lowers []string, upper, work string, volatile bool) error {
	if (upper == "") != (work == "") {
		return fmt.Errorf("mounting overlay at %s: upper and work dirs go together", target)
	}
	if upper == "" && len(lowers) == 0 {
		return fmt.Errorf("mounting overlay at %s: no lower dirs and no upper dir", target)
	}
	for _, l := range lowers {
		if l == "" {
			return fmt.Errorf("mounting overlay at %s: empty lower dir path", target)
		}
	}
	if upper == "" && len(lowers) == 1 {
		if err := bindReadOnly(lowers[0], target); err != nil {
			return fmt.Errorf("mounting %s read-only at %s: %w", lowers[0], target, err)
		}
		return nil
	}
	if len(lowers) == 0 {
		if err := emptyDir(); err != nil {
			return fmt.Errorf("mounting overlay at %s: %w", target, err)
		}
		lowers = []string{EmptyDir}
	}
	abs := func(p string) (string, error) {
		if p == "" {
			return "", nil
		}
		return filepath.Abs(p)
	}
	var err error
	ls := make([]string, len(lowers))
	for i, l := range lowers {
		if ls[i], err = abs(l); err != nil {
			return fmt.Errorf("mounting overlay at %s: %w", target, err)
		}
	}
	if upper, err = abs(upper); err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	if work, err = abs(work); err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	err = mountFS(target, ls, upper, work, volatile)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, errNoLowerdirPlus) {
		err = mountLegacy(target, ls, upper, work, volatile)
		if volatile && errors.Is(err, unix.EINVAL) {
			err = mountLegacy(target, ls, upper, work, false) // a kernel before 5.10
		}
	}
	if err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	return nil
}

func bindReadOnly(src, target string) error {
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return err
	}
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		unix.Unmount(target, unix.MNT_DETACH)
		return err
	}
	return nil
}

func emptyDir() error {
	if err := os.MkdirAll(EmptyDir, 0o755); err != nil {
		return err
	}
	f, err := os.Open(EmptyDir)
	if err != nil {
		return err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return fmt.Errorf("%s must be empty", EmptyDir)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

var errNoLowerdirPlus = errors.New("kernel does not accept lowerdir+")

// addLowers adds lowers (top first) to the overlay configured on fsfd.
//
// The kernel keeps each lower dir by the name it was given and prints them
// all in the mount's line of /proc/self/mountinfo, which runc reads and
// parses several times per container: 200 snapshot paths of a store made a
// line of 20 KB and a step at depth 200 about 40% slower than one at depth
// 1. So each lower is given by a short name, the number of an O_PATH
// descriptor of it, looked up in /proc/self/fd as the working directory of
// a locked OS thread with its own working directory. The kernel resolves a
// lower when it is added; the descriptors close afterwards. Where that
// directory cannot be entered, the absolute paths are given instead.
func addLowers(fsfd int, lowers []string) error {
	add := func(i int, name, path string) error {
		if err := unix.FsconfigSetString(fsfd, "lowerdir+", name); err != nil {
			if i == 0 && errors.Is(err, unix.EINVAL) {
				return errNoLowerdirPlus
			}
			return fmt.Errorf("adding lower dir %s: %w", path, err)
		}
		return nil
	}
	if len(lowers) < shortNamesFrom {
		for i, l := range lowers {
			if err := add(i, l, l); err != nil {
				return err
			}
		}
		return nil
	}
	fds := make([]int, 0, len(lowers))
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, l := range lowers {
		fd, err := unix.Open(l, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("adding lower dir %s: %w", l, err)
		}
		fds = append(fds, fd)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread never unlocks, so it exits with the goroutine and its
		// private working directory goes with it.
		runtime.LockOSThread()
		if unix.Unshare(unix.CLONE_FS) != nil || unix.Chdir("/proc/self/fd") != nil {
			errc <- errNoShortNames
			return
		}
		for i, fd := range fds {
			if err := add(i, strconv.Itoa(fd), lowers[i]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	err := <-errc
	if err == errNoShortNames {
		for i, l := range lowers {
			if err := add(i, l, l); err != nil {
				return err
			}
		}
		return nil
	}
	return err
}

// shortNamesFrom is the number of lower dirs from which addLowers names
// them by descriptor: below it, the thread and descriptors cost more than
// the names.
const shortNamesFrom = 4

var errNoShortNames = errors.New("no short names for lower dirs")

// mountFS uses the mount API of fsopen(2) (Linux 6.8 or later for
// "lowerdir+"), which takes one lower dir per call and so has no option
// length limit and needs no escaping of ':' or ','.
func mountFS(target string, lowers []string, upper, work string, volatile bool) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fsfd)
	set := func(key, value string) error {
		if err := unix.FsconfigSetString(fsfd, key, value); err != nil {
			return fmt.Errorf("setting %s=%s: %w", key, value, err)
		}
		return nil
	}
	if err := unix.FsconfigSetString(fsfd, "source", "overlay"); err != nil {
		return fmt.Errorf("setting source: %w", err)
	}
	if err := addLowers(fsfd, lowers); err != nil {
		return err
	}
	if upper != "" {
		if err := set("upperdir", upper); err != nil {
			return err
		}
		if err := set("workdir", work); err != nil {
			return err
		}
		if volatile {
			// Optional: a kernel before 5.10 refuses it, and syncs.
			unix.FsconfigSetFlag(fsfd, "volatile")
		}
	}
	for _, o := range fixedOptions {
		// Optional: older kernels lack some and default them off.
		unix.FsconfigSetString(fsfd, o[0], o[1])
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return fmt.Errorf("creating overlay: %w", err)
	}
	attrs := 0
	if upper == "" {
		attrs = unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return fmt.Errorf("creating mount: %w", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attaching mount: %w", err)
	}
	return nil
}

// mountLegacy uses mount(2), whose options must fit in one page: when the
// absolute paths do not, each dir gets a short symlink in a temporary
// directory, which becomes the working directory of a locked, unshared OS
// thread for the mount (the kernel resolves the links once, at mount time).
func mountLegacy(target string, lowers []string, upper, work string, volatile bool) error {
	for _, p := range append(append([]string{}, lowers...), upper, work) {
		if strings.ContainsAny(p, ":,\\") {
			return fmt.Errorf("path %q contains ':', ',' or '\\'", p)
		}
	}
	target, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	flags := uintptr(0)
	if upper == "" {
		flags = unix.MS_RDONLY
	}
	options := func(lowers []string, upper, work string) string {
		o := "lowerdir=" + strings.Join(lowers, ":")
		if upper != "" {
			o += ",upperdir=" + upper + ",workdir=" + work
		}
		for _, f := range fixedOptions {
			o += "," + f[0] + "=" + f[1]
		}
		if volatile {
			o += ",volatile"
		}
		return o
	}
	data := options(lowers, upper, work)
	if len(data) < os.Getpagesize()-1 {
		return unix.Mount("overlay", target, "overlay", flags, data)
	}
	links, err := os.MkdirTemp("", "imgc-overlay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(links)
	link := func(p, name string) (string, error) {
		if p == "" {
			return "", nil
		}
		return name, os.Symlink(p, filepath.Join(links, name))
	}
	rl := make([]string, len(lowers))
	for i, l := range lowers {
		if rl[i], err = link(l, strconv.Itoa(i)); err != nil {
			return err
		}
	}
	ru, err := link(upper, "u")
	if err != nil {
		return err
	}
	rw, err := link(work, "w")
	if err != nil {
		return err
	}
	data = options(rl, ru, rw)
	if len(data) >= os.Getpagesize()-1 {
		return fmt.Errorf("overlay options are %d bytes even with short names: too many lower dirs", len(data))
	}
	errc := make(chan error, 1)
	go func() {
		// The thread never unlocks, so it exits with the goroutine and its
		// private working directory goes with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unsharing working directory: %w", err)
			return
		}
		if err := unix.Chdir(links); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount("overlay", target, "overlay", flags, data)
	}()
	return <-errc
}

// Unmount unmounts target, retrying briefly while it is busy (a container's
// processes can take a moment to go), then detaching it lazily.
func Unmount(target string) error {
	deadline := time.Now().Add(time.Second)
	for {
		err := unix.Unmount(target, 0)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("unmounting %s: %w", target, err)
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmounting %s: %w", target, err)
	}
	return nil
}

// UnmountBelow detaches every mount below dir (what a killed process left
// mounted there), deepest first.
func UnmountBelow(dir string) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		if p := unescapeMountPath(fields[4]); strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		unix.Unmount(p, unix.MNT_DETACH)
	}
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(p string) string {
	if !strings.Contains(p, "\\") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+3 < len(p) {
			if n, err := strconv.ParseUint(p[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}
