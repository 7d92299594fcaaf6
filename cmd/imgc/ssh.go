package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/imgc-dev/imgc/ir"
)

// sshAgents reads --ssh values as docker buildx does: "default" or "ID"
// alone forward $SSH_AUTH_SOCK; "ID=PATH[,PATH...]" forwards PATH when it
// is a socket, else loads the key files into an agent of imgc's own that
// lives until the build ends (close stops them).
func sshAgents(values []string) (agents map[string]string, closeFn func(), diags hcl.Diagnostics) {
	agents = map[string]string{}
	var closers []func()
	closeFn = func() {
		for _, c := range closers {
			c()
		}
	}
	for _, v := range values {
		id, paths, hasPaths := strings.Cut(v, "=")
		bad := func(why string) {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --ssh value",
				Detail: fmt.Sprintf("--ssh %q: %s. Write --ssh default (the agent of $SSH_AUTH_SOCK), or --ssh ID=SOCKET, or --ssh ID=KEYFILE[,KEYFILE].", v, why)})
		}
		switch {
		case id == "":
			bad("the id is empty")
			continue
		case !hasPaths:
			sock := os.Getenv("SSH_AUTH_SOCK")
			if sock == "" {
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid --ssh value",
					Detail: fmt.Sprintf("--ssh %s forwards the agent $SSH_AUTH_SOCK names, and SSH_AUTH_SOCK is not set. Start an agent (eval $(ssh-agent) && ssh-add), or give the key files: --ssh %s=~/.ssh/id_ed25519.", v, id)})
				continue
			}
			agents[id] = sock
			continue
		}
		list := strings.Split(paths, ",")
		if len(list) == 1 {
			if fi, err := os.Stat(list[0]); err == nil && fi.Mode().Type() == os.ModeSocket {
				agents[id] = list[0]
				continue
			}
		}
		sock, stop, err := keyAgent(list)
		if err != nil {
			bad(err.Error())
			continue
		}
		closers = append(closers, stop)
		agents[id] = sock
	}
	return agents, closeFn, diags
}

// keyAgent serves the private keys in files on a new socket in a private
// directory, as buildx's in-process agent does.
func keyAgent(files []string) (string, func(), error) {
	keyring := agent.NewKeyring()
	for _, f := range files {
		pem, err := os.ReadFile(f)
		if err != nil {
			return "", nil, fmt.Errorf("reading %s: %w", f, err)
		}
		key, err := ssh.ParseRawPrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return "", nil, fmt.Errorf("%s is protected by a passphrase: add it to an ssh-agent and pass the agent's socket", f)
		}
		if err != nil {
			return "", nil, fmt.Errorf("%s is neither a socket nor a private key: %w", f, err)
		}
		if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
			return "", nil, fmt.Errorf("loading %s: %w", f, err)
		}
	}
	dir, err := os.MkdirTemp("", "imgc-agent-")
	if err != nil {
		return "", nil, err
	}
	sock := filepath.Join(dir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(keyring, c)
			}()
		}
	}()
	return sock, func() { l.Close(); os.RemoveAll(dir) }, nil
}

// missingSSH finds, before anything runs, the required ssh mounts whose
// agent no --ssh gives.
func missingSSH(plan *ir.Plan, agents map[string]string) hcl.Diagnostics {
	return missingMounts(plan, ir.MountSSH, agents, "Missing SSH agent", func(id string) string {
		return fmt.Sprintf("This step mounts the required SSH agent %q, and no --ssh gives it. Pass --ssh %s (the agent of $SSH_AUTH_SOCK) or --ssh %s=SOCKET|KEYFILE.", id, id, id)
	})
}
