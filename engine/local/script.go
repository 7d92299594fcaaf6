package local

import (
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/imgc-dev/imgc/ir"
)

// scriptMount shows a run step's script as BuildKit does: the file alone,
// mode 0755, in a read-only directory at ir.ScriptDir (inside the
// container's /dev, so it never reaches the layer). done removes it.
func scriptMount(s *ir.Script) (m specs.Mount, done func(), err error) {
	dir, err := os.MkdirTemp("", "imgc-script-")
	if err != nil {
		return m, nil, fmt.Errorf("writing the script: %w", err)
	}
	done = func() { os.RemoveAll(dir) }
	file := filepath.Join(dir, s.Name)
	if err := os.WriteFile(file, []byte(s.Text), 0o755); err != nil {
		done()
		return m, nil, fmt.Errorf("writing the script: %w", err)
	}
	// The umask must not narrow the modes: any user runs the script.
	for _, p := range []string{dir, file} {
		if err := os.Chmod(p, 0o755); err != nil {
			done()
			return m, nil, fmt.Errorf("writing the script: %w", err)
		}
	}
	m = specs.Mount{Destination: ir.ScriptDir, Type: "bind", Source: dir, Options: []string{"rbind", "ro", "nosuid", "nodev"}}
	return m, done, nil
}
