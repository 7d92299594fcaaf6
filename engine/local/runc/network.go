package runc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// NetnsDir holds the bind mounts that keep private network namespaces alive
// and their resolv.conf files (a tmpfs on most hosts). Each is named after
// the process that made it, so that a later NewNetwork clears those left by
// a process that is gone.
var NetnsDir = "/run/imgc-netns"

// SlirpMTU is the MTU of the private network's interface: slirp4netns's
// largest, as BuildKit and rootless Docker use, which makes it fast.
const SlirpMTU = 65520

// slirpDNS is the address slirp4netns forwards DNS queries from to the
// host's resolver.
const slirpDNS = "10.0.2.3"

// Network is a private network namespace with its own loopback and
// outbound access through slirp4netns (10.0.2.100/24 on tap0, default route
// via 10.0.2.2), as rootless Docker and BuildKit give. The host's loopback
// (127.0.0.1, 10.0.2.2, abstract unix sockets) is out of reach. Steps join
// it through the runtime spec's namespace path, so one Network serves every
// step of a build at no cost per step; Close tears it down.
type Network struct {
	path       string // bind mount of the namespace
	resolvConf string // the resolv.conf steps see
	apiSocket  string // slirp4netns's API socket, when ports are published
	slirp      *exec.Cmd
	exitW      *os.File // closing it stops slirp4netns
	done       chan error

	closeOnce sync.Once
	closeErr  error
}

// Path is the namespace's file, for specs.LinuxNamespace.Path.
func (n *Network) Path() string { return n.path }

// ResolvConf is the resolv.conf file to bind into the steps that join n.
func (n *Network) ResolvConf() string { return n.resolvConf }

// Port publishes a TCP port of a private network on the host: connections
// to HostIP:HostPort reach the container's port ContainerPort.
type Port struct {
	HostIP        string // "" = 127.0.0.1
	HostPort      int
	ContainerPort int
}

func (p Port) String() string {
	ip := p.HostIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	return net.JoinHostPort(ip, strconv.Itoa(p.HostPort)) + "->" + strconv.Itoa(p.ContainerPort) + "/tcp"
}

// slirpGuest is the container's address on the private network.
const slirpGuest = "10.0.2.100"

// NewNetwork makes a private network namespace and starts slirp4netns for
// it. slirp4netns stops with Close, or on its own when this process exits.
// Each port is forwarded from the host into the namespace by slirp4netns
// (through its API socket's add_hostfwd), as rootless Docker publishes
// ports.
func NewNetwork(ctx context.Context, ports ...Port) (n *Network, err error) {
	slirpPath, err := exec.LookPath("slirp4netns")
	if err != nil {
		return nil, errors.New("slirp4netns is not installed: run steps get a private network through it " +
			"(install it with `apt-get install slirp4netns` or `make deps`, " +
			`or give steps no network with network = "none")`)
	}
	if err := os.MkdirAll(NetnsDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", NetnsDir, err)
	}
	clearStaleNetworks()
	name := fmt.Sprintf("%d-%s", os.Getpid(), randomHex())
	n = &Network{path: filepath.Join(NetnsDir, name), resolvConf: filepath.Join(NetnsDir, name+".resolv.conf")}
	defer func() {
		if err != nil {
			n.Close()
			n = nil
		}
	}()
	if err := os.WriteFile(n.resolvConf, resolvConf(), 0o644); err != nil {
		return n, fmt.Errorf("writing resolv.conf: %w", err)
	}
	if err := newNetns(n.path); err != nil {
		return n, fmt.Errorf("creating network namespace: %w", err)
	}

	readyR, readyW, err := os.Pipe()
	if err != nil {
		return n, err
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return n, err
	}
	n.exitW = exitW
	args := []string{"--configure", "--mtu", strconv.Itoa(SlirpMTU), "--disable-host-loopback",
		"--enable-sandbox", "--enable-seccomp", "--ready-fd", "3", "--exit-fd", "4"}
	if len(ports) > 0 {
		n.apiSocket = filepath.Join(NetnsDir, name+".sock")
		args = append(args, "--api-socket", n.apiSocket)
	}
	args = append(args, "--netns-type", "path", n.path, "tap0")
	cmd := exec.Command(slirpPath, args...)
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Its own process group: a Ctrl-C reaches imgc, which stops it in
	// order; if imgc dies, the exit pipe closes and slirp4netns exits.
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		return n, fmt.Errorf("starting slirp4netns: %w", err)
	}
	n.slirp = cmd
	n.done = make(chan error, 1)
	go func() { n.done <- cmd.Wait() }()

	ready := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := readyR.Read(b[:])
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			select {
			case <-n.done:
			case <-time.After(2 * time.Second):
			}
			return n, fmt.Errorf("starting slirp4netns: it exited before the network was ready: %s", strings.TrimSpace(stderr.String()))
		}
	case <-ctx.Done():
		return n, ctx.Err()
	case <-time.After(30 * time.Second):
		return n, errors.New("starting slirp4netns: the network was not ready after 30s")
	}
	for _, p := range ports {
		if err := n.publish(p); err != nil {
			return n, fmt.Errorf("publishing %s: %w", p, err)
		}
	}
	return n, nil
}

// publish asks slirp4netns to forward p.
func (n *Network) publish(p Port) error {
	ip := p.HostIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	c, err := net.DialTimeout("unix", n.apiSocket, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := json.Marshal(map[string]any{"execute": "add_hostfwd", "arguments": map[string]any{
		"proto": "tcp", "host_addr": ip, "host_port": p.HostPort, "guest_addr": slirpGuest, "guest_port": p.ContainerPort,
	}})
	if _, err := c.Write(req); err != nil {
		return err
	}
	if uc, ok := c.(*net.UnixConn); ok {
		uc.CloseWrite()
	}
	var resp struct {
		Error *struct {
			Desc string `json:"desc"`
		} `json:"error"`
	}
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return fmt.Errorf("reading slirp4netns's answer: %w", err)
	}
	if resp.Error != nil {
		desc := resp.Error.Desc
		if strings.Contains(desc, "bad request: add_hostfwd") || desc == "" {
			desc = "the host port is in use or cannot be bound"
		}
		return errors.New(desc)
	}
	return nil
}

// Close stops slirp4netns and removes the namespace. It may be called more
// than once.
func (n *Network) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Network) close() error {
	var errs []error
	if n.exitW != nil {
		n.exitW.Close()
	}
	if n.slirp != nil {
		select {
		case <-n.done:
		case <-time.After(2 * time.Second):
			n.slirp.Process.Kill()
			<-n.done
		}
	}
	if err := removeNetns(n.path); err != nil {
		errs = append(errs, err)
	}
	if err := os.Remove(n.resolvConf); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if n.apiSocket != "" {
		os.Remove(n.apiSocket)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing network namespace: %w", err)
	}
	return nil
}

// newNetns creates a network namespace and bind-mounts it on path. It
// unshares a locked thread that is never unlocked, so the Go runtime ends
// that thread rather than reuse it in the new namespace.
func newNetns(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unsharing: %w", err)
			return
		}
		ns := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(ns, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("binding %s: %w", ns, err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

func removeNetns(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// clearStaleNetworks removes the namespaces and resolv.conf files left in
// NetnsDir by processes that no longer exist (killed before Close).
func clearStaleNetworks() {
	entries, err := os.ReadDir(NetnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pidText, _, ok := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); err == nil || errors.Is(err, unix.EPERM) {
			continue // still running
		}
		p := filepath.Join(NetnsDir, e.Name())
		if strings.HasSuffix(p, ".resolv.conf") || strings.HasSuffix(p, ".sock") {
			os.Remove(p)
		} else {
			removeNetns(p)
		}
	}
}

// resolvConf is the host's /etc/resolv.conf with its nameservers replaced
// by slirp4netns's DNS forwarder when any of them is a loopback address
// (systemd-resolved, dnsmasq), which the private network cannot reach.
func resolvConf() []byte {
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return []byte("nameserver " + slirpDNS + "\n")
	}
	return resolvConfFor(host)
}

func resolvConfFor(host []byte) []byte {
	var out bytes.Buffer
	loopback, servers := false, 0
	sc := bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" {
			servers++
			if a, err := netip.ParseAddr(strings.Split(f[1], "%")[0]); err == nil && a.IsLoopback() {
				loopback = true
			}
		}
	}
	if !loopback && servers > 0 {
		return host
	}
	out.WriteString("nameserver " + slirpDNS + "\n")
	sc = bufio.NewScanner(bytes.NewReader(host))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] != "nameserver" {
			out.WriteString(sc.Text() + "\n")
		}
	}
	return out.Bytes()
}

func randomHex() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
