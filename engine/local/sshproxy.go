package local

import (
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/imgc-dev/imgc/ir"
)

// sshProxy listens on a new socket in a private directory outside the
// store and forwards each connection to the agent socket agent, so that a
// step sees a socket with the mount's owner and mode (BuildKit's default:
// root, 0600) and never the host's path. done closes it and removes the
// directory.
func sshProxy(agent string, m ir.Mount) (string, func(), error) {
	if _, err := os.Stat(agent); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "imgc-ssh-")
	if err != nil {
		return "", nil, err
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	uid, gid, mode := 0, 0, uint32(0o600)
	if m.UID != nil {
		uid = *m.UID
	}
	if m.GID != nil {
		gid = *m.GID
	}
	if m.Mode != nil {
		mode = *m.Mode
	}
	err = os.Chown(sock, uid, gid)
	if err == nil {
		err = os.Chmod(sock, fs.FileMode(mode).Perm())
	}
	if err != nil {
		l.Close()
		os.RemoveAll(dir)
		return "", nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// A connection ends with the step's processes, which the
			// container's end kills.
			go forward(c, agent)
		}
	}()
	done := func() {
		l.Close()
		wg.Wait()
		os.RemoveAll(dir)
	}
	return sock, done, nil
}

// forward copies between the step's connection c and the agent until
// either side closes.
func forward(c net.Conn, agent string) {
	defer c.Close()
	a, err := net.Dial("unix", agent)
	if err != nil {
		return
	}
	defer a.Close()
	go func() {
		io.Copy(a, c)
		a.(*net.UnixConn).CloseWrite()
	}()
	io.Copy(c, a)
}
