package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/imgc-dev/imgc/engine/imageconfig"
	"github.com/imgc-dev/imgc/ir"
)

// mkdir runs a mkdir step in the mounted rootfs as BuildKit runs a
// WORKDIR's: every missing directory of the path is made with mode 0755
// and given to the user (a name resolves with its primary group); what
// exists is left as it is, and symlinks are followed inside the image.
func (tb *targetBuild) mkdir(m *ir.Mkdir, rootfs string) error {
	cfg := tb.st.Config.Config
	p := path.Clean("/" + imageconfig.ExpandWorkdir(cfg.Env, m.Path))
	user := m.User
	if user == "" {
		user = cfg.User
	}
	uid, gid, err := resolveOwner(rootfs, user)
	if err != nil {
		return err
	}
	resolved := &inRoot{root: rootfs, memo: map[string]string{}}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i := range parts {
		if parts[i] == "" {
			continue
		}
		dir := resolved.dir("/" + strings.Join(parts[:i+1], "/"))
		host := filepath.Join(rootfs, filepath.FromSlash(dir))
		fi, err := os.Lstat(host)
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return fmt.Errorf("making the directory %s: %s is not a directory", p, dir)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("making the directory %s: %w", p, err)
		}
		if err := os.Mkdir(host, 0o755); err != nil {
			return fmt.Errorf("making the directory %s: %w", p, err)
		}
		// The umask must not narrow the mode.
		if err := os.Chmod(host, 0o755); err != nil {
			return fmt.Errorf("making the directory %s: %w", p, err)
		}
		if err := os.Lchown(host, uid, gid); err != nil {
			return fmt.Errorf("giving the directory %s to %q: %w", dir, user, err)
		}
		// Later parts resolve below what now exists.
		resolved.memo = map[string]string{}
	}
	return nil
}
