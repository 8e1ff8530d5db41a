// Package kubelet plays a Kubernetes node for the chart's pods, where no cluster can run: from a rendered
// pod spec it runs the init containers, then the containers, as processes of their own, each in its own
// mount and PID namespaces, in a pod sandbox that holds the pod's network namespace (so that every pod
// listens on the rendered ports), with the rendered command, args and environment (Secret and ConfigMap
// keys resolved), the volumes bind-mounted at their mount paths (Secrets and ConfigMaps written as the
// kubelet writes them, through ..data links), the security context's user, groups and read-only root,
// and the probes polled as the kubelet polls them.
//
// The cluster's network is a namespace of its own, joined to each pod by a veth pair (the pod's eth0,
// 10.244.N.2/24, its default route the cluster's end); a Service is an address there (10.96.1.N), named in
// every pod's /etc/hosts, that forwards to a process of the node or to the ready pods behind it. A pod's
// /etc/resolv.conf names the cluster's DNS address, where a name outside /etc/hosts is refused at once.
//
// It needs root, for namespaces and mounts; a test without it skips.
package kubelet

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// Image is what a container's image holds: the files of its root, its environment, and folders its build
// made (a Dockerfile's RUN mkdir and chown), made in each container's writable layer.
type Image struct {
	Root       string // the image's files: a folder, or / for the node's own
	Env        []string
	User       string // UID or UID:GID, as the image's config says; root when empty
	WorkingDir string
	Dirs       []Dir
	// Empty are folders the image holds empty, whatever its Root has there (the node's own /tmp is not
	// an image's).
	Empty []Dir
}

// Dir is a folder an image holds, with its owner and mode.
type Dir struct {
	Path     string
	Mode     os.FileMode
	UID, GID int
}

// Node is the node and the cluster around it: the Secrets, ConfigMaps and PersistentVolumeClaims pods
// read, the images they run, and the Services they reach.
type Node struct {
	Namespace  string
	Secrets    map[string]map[string]string
	ConfigMaps map[string]map[string]string
	Claims     map[string]string // PersistentVolumeClaim name → the node's folder that backs it
	Images     map[string]Image  // image reference → image

	tb       testing.TB
	dir      string
	network  *os.File // the cluster's network namespace
	mu       sync.Mutex
	services []*Service
	pods     int
}

// NewNode returns a node for tb, with the cluster's network; every pod it starts is stopped when tb ends.
// It skips tb when this process cannot make namespaces (it is not root), and fails it so under CI.
func NewNode(tb testing.TB, namespace string) *Node {
	tb.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			tb.Fatal("playing the kubelet needs root (mount, PID and network namespaces), which CI has")
		}
		tb.Skip("playing the kubelet needs root: mount, PID and network namespaces")
	}
	dir, err := os.MkdirTemp("", "kubelet-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	n := &Node{Namespace: namespace, Secrets: map[string]map[string]string{}, ConfigMaps: map[string]map[string]string{},
		Claims: map[string]string{}, Images: map[string]Image{}, tb: tb, dir: dir}
	cluster := startSandbox(tb, "cluster")
	tb.Cleanup(func() { _ = cluster.Process.Kill(); _ = cluster.Wait() })
	if n.network, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", cluster.Process.Pid)); err != nil {
		tb.Fatal(err)
	}
	// The cluster's DNS address, where nothing listens: a name /etc/hosts does not hold is refused at
	// once, as the cluster's DNS would answer that no such name exists, never sent to the node's resolver.
	if _, err := inNetns(n.network, func() (any, error) { return nil, loopbackAddress(clusterDNS) }); err != nil {
		tb.Fatalf("the cluster's DNS address: %v", err)
	}
	return n
}

// clusterDNS is the cluster DNS's address, which every pod's /etc/resolv.conf names.
const clusterDNS = "10.96.0.10"

// Service is a Service of the cluster: an address of the cluster's network (on its lo) that forwards each
// connection on Port to what dial reaches.
type Service struct {
	Name string
	IP   string
	Port int
	dial func(ctx context.Context) (net.Conn, error)
}

// Service adds a Service named name, reached on port from pods started after, that forwards to the
// node's address addr (a process of the test, outside any pod).
func (n *Node) Service(name string, port int, addr string) *Service {
	return n.service(name, port, func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
}

// ServiceOf adds a Service named name on port whose endpoints are the ready pods of pods, on their
// targetPort, taken in turn.
func (n *Node) ServiceOf(name string, port, targetPort int, pods func() []*Pod) *Service {
	var mu sync.Mutex
	next := 0
	return n.service(name, port, func(ctx context.Context) (net.Conn, error) {
		var ready []*Pod
		for _, p := range pods() {
			if p.Ready() {
				ready = append(ready, p)
			}
		}
		if len(ready) == 0 {
			return nil, fmt.Errorf("service %s has no ready endpoint", name)
		}
		mu.Lock()
		p := ready[next%len(ready)]
		next++
		mu.Unlock()
		return p.Dial(ctx, targetPort)
	})
}

func (n *Node) service(name string, port int, dial func(ctx context.Context) (net.Conn, error)) *Service {
	tb := n.tb
	tb.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	s := &Service{Name: name, IP: fmt.Sprintf("10.96.1.%d", len(n.services)+1), Port: port, dial: dial}
	ln, err := inNetns(n.network, func() (any, error) {
		if err := loopbackAddress(s.IP); err != nil {
			return nil, err
		}
		return net.Listen("tcp", net.JoinHostPort(s.IP, strconv.Itoa(port)))
	})
	if err != nil {
		tb.Fatalf("service %s: %v", name, err)
	}
	tb.Cleanup(func() { ln.(net.Listener).Close() })
	go relay(ln.(net.Listener), dial)
	n.services = append(n.services, s)
	return s
}

// Forward listens on the node's loopback and forwards every connection to the Service, as
// `kubectl port-forward service/NAME` does; it returns the URL to reach it by, and stops with the test.
func (s *Service) Forward(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go relay(ln, s.dial)
	return "http://" + ln.Addr().String()
}

// relay accepts on ln until it is closed, and joins every connection to one that dial makes.
func relay(ln net.Listener, dial func(ctx context.Context) (net.Conn, error)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			up, err := dial(ctx)
			cancel()
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{})
			go func() { io.Copy(up, c); closeWrite(up); close(done) }()
			io.Copy(c, up)
			closeWrite(c)
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
}

// Pod is a pod the node runs.
type Pod struct {
	Name string
	tb   testing.TB
	node *Node
	spec corev1.PodSpec
	dir  string

	sandbox   *exec.Cmd
	netns     *os.File
	IP        string            // the pod's address on the cluster's network
	volumes   map[string]string // volume name → the node's folder
	projected map[string]bool   // the volumes of Secrets and ConfigMaps

	mu         sync.Mutex
	containers map[string]*Container
	ready      map[string]bool // by container: its readiness probe's last answer
	failed     error           // a container's startup probe that failed
	stopped    bool
	stopProbes context.CancelFunc
}

// Container is a running (or ended) container of a pod.
type Container struct {
	Name string
	Logs *Logs
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Logs is a container's output, as kubectl logs shows it.
type Logs struct {
	mu  sync.Mutex
	buf []byte
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// String returns what the container wrote so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// RunPod starts a pod of spec named name for tb, as the kubelet does: its sandbox, its volumes, each init
// container to its end (a failed one fails tb), then its containers, and their probes. The pod is stopped
// when tb ends.
func (n *Node) RunPod(tb testing.TB, name string, spec corev1.PodSpec) *Pod {
	tb.Helper()
	for _, c := range spec.Containers {
		for _, pr := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
			if pr != nil && pr.HTTPGet == nil {
				tb.Fatalf("pod %s: container %s: a probe that is not httpGet, which this kubelet does not know", name, c.Name)
			}
		}
	}
	p := &Pod{Name: name, tb: tb, node: n, spec: spec, dir: filepath.Join(n.dir, name), volumes: map[string]string{},
		containers: map[string]*Container{}, ready: map[string]bool{}}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Stop)
	p.startSandbox(tb)
	p.projected = map[string]bool{}
	for _, v := range spec.Volumes {
		p.volumes[v.Name] = p.volume(tb, v)
		p.projected[v.Name] = v.Secret != nil || v.ConfigMap != nil
	}
	for _, c := range spec.InitContainers {
		ct := p.start(tb, c)
		if err := ct.Wait(2 * time.Minute); err != nil {
			tb.Fatalf("pod %s: init container %s: %v\n%s", name, c.Name, err, ct.Logs)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stopProbes = cancel
	for _, c := range spec.Containers {
		p.start(tb, c)
		go p.probe(ctx, c)
	}
	return p
}

var (
	spawnOnce sync.Once
	spawns    = make(chan func())
)

// spawn starts cmd from one OS thread that never ends: a child's parent-death signal follows the thread
// that started it, and the threads inNetns borrows end with their goroutines.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for f := range spawns {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawns <- func() { errc <- cmd.Start() }
	return <-errc
}

// startSandbox starts a process holding new network, UTS and IPC namespaces, with lo up, named hostname.
func startSandbox(tb testing.TB, hostname string) *exec.Cmd {
	tb.Helper()
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	spec, _ := json.Marshal(launch{Sandbox: true, Hostname: hostname})
	cmd := exec.Command(self)
	cmd.Env = []string{runtimeEnv + "=" + string(spec)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWUTS | syscall.CLONE_NEWIPC, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var stderr Logs
	cmd.Stderr = &stderr
	if err := spawn(cmd); err != nil {
		tb.Fatalf("sandbox %s: %v", hostname, err)
	}
	line := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(out).ReadString('\n'); line <- l }()
	select {
	case l := <-line:
		if l != "ready\n" {
			tb.Fatalf("sandbox %s did not start: %q %s", hostname, l, stderr.String())
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		tb.Fatalf("sandbox %s did not start within a minute: %s", hostname, stderr.String())
	}
	return cmd
}

// startSandbox starts the pod's sandbox, joins it to the cluster's network, and writes its /etc/hosts.
func (p *Pod) startSandbox(tb testing.TB) {
	tb.Helper()
	p.sandbox = startSandbox(tb, p.Name)
	var err error
	if p.netns, err = os.Open(fmt.Sprintf("/proc/%d/ns/net", p.sandbox.Process.Pid)); err != nil {
		tb.Fatal(err)
	}
	n := p.node
	n.mu.Lock()
	n.pods++
	index := n.pods
	services := slices.Clone(n.services)
	n.mu.Unlock()
	p.IP = fmt.Sprintf("10.244.%d.2", index)
	gateway := fmt.Sprintf("10.244.%d.1", index)
	peer := fmt.Sprintf("veth%d", index)
	// The veth pair: eth0 in the pod, its peer in the cluster's namespace; each end addressed and up,
	// and the pod's default route through the cluster's end.
	_, err = inNetns(p.netns, func() (any, error) {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, err
		}
		defer h.Close()
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: peer, PeerNamespace: netlink.NsFd(int(n.network.Fd()))}
		if err := h.LinkAdd(veth); err != nil {
			return nil, fmt.Errorf("veth: %w", err)
		}
		return nil, addressUp(h, "eth0", p.IP, gateway)
	})
	if err == nil {
		_, err = inNetns(n.network, func() (any, error) {
			h, err := netlink.NewHandle()
			if err != nil {
				return nil, err
			}
			defer h.Close()
			return nil, addressUp(h, peer, gateway, "")
		})
	}
	if err != nil {
		tb.Fatalf("pod %s: its network: %v", p.Name, err)
	}
	var hosts strings.Builder
	fmt.Fprintf(&hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n", p.IP, p.Name)
	for _, s := range services {
		ns := n.Namespace
		fmt.Fprintf(&hosts, "%s\t%s %s.%s %s.%s.svc %s.%s.svc.cluster.local\n", s.IP, s.Name, s.Name, ns, s.Name, ns, s.Name, ns)
	}
	if err := os.WriteFile(filepath.Join(p.dir, "hosts"), []byte(hosts.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	resolv := fmt.Sprintf("nameserver %s\nsearch %s.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n", clusterDNS, n.Namespace)
	if err := os.WriteFile(filepath.Join(p.dir, "resolv.conf"), []byte(resolv), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// loopbackAddress adds ip/32 to lo of the calling thread's network namespace.
func loopbackAddress(ip string) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	return h.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(ip), Mask: net.CIDRMask(32, 32)}})
}

// addressUp gives the link its address in a /24 and sets it up; with a gateway, the default route goes
// through it.
func addressUp(h *netlink.Handle, name, ip, gateway string) error {
	link, err := h.LinkByName(name)
	if err != nil {
		return err
	}
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(ip), Mask: net.CIDRMask(24, 32)}}); err != nil {
		return fmt.Errorf("%s %s: %w", name, ip, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s up: %w", name, err)
	}
	if gateway == "" {
		return nil
	}
	if err := h.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(gateway)}); err != nil {
		return fmt.Errorf("default route through %s: %w", gateway, err)
	}
	return nil
}

// inNetns runs fn on a thread in the network namespace ns: a socket fn makes stays in it. The thread is
// not given back to the Go runtime: it ends with the goroutine.
func inNetns(ns *os.File, fn func() (any, error)) (any, error) {
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, err}
			return
		}
		v, err := fn()
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}

// Dial connects to port at the pod's IP, as a Service and the kubelet's probes reach it.
func (p *Pod) Dial(ctx context.Context, port int) (net.Conn, error) {
	return p.dial(ctx, p.IP, port)
}

// dial connects to host:port from inside the pod's network namespace.
func (p *Pod) dial(ctx context.Context, host string, port int) (net.Conn, error) {
	c, err := inNetns(p.netns, func() (any, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	})
	if err != nil {
		return nil, err
	}
	return c.(net.Conn), nil
}

// StandIn listens on port in the pod's network namespace and forwards to the node's address addr: a
// process of the node stands in for a container of the pod that this kubelet does not run.
func (p *Pod) StandIn(tb testing.TB, port int, addr string) {
	tb.Helper()
	ln, err := inNetns(p.netns, func() (any, error) { return net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))) })
	if err != nil {
		tb.Fatalf("pod %s: port %d: %v", p.Name, port, err)
	}
	tb.Cleanup(func() { ln.(net.Listener).Close() })
	go relay(ln.(net.Listener), func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
}

// Forward listens on the node's loopback and forwards to port of the pod, as `kubectl port-forward pod/NAME`
// does (to the pod's own loopback); it returns the URL to reach it by.
func (p *Pod) Forward(tb testing.TB, port int) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go relay(ln, func(ctx context.Context) (net.Conn, error) { return p.dial(ctx, "127.0.0.1", port) })
	return "http://" + ln.Addr().String()
}

// volume makes the node's folder behind a volume of the pod.
func (p *Pod) volume(tb testing.TB, v corev1.Volume) string {
	tb.Helper()
	dir := filepath.Join(p.dir, "volumes", v.Name)
	fsGroup := -1
	if sc := p.spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		fsGroup = int(*sc.FSGroup)
	}
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(dir, 0o777); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			tb.Fatal(err)
		}
		return dir
	case v.PersistentVolumeClaim != nil:
		claim, ok := p.node.Claims[v.PersistentVolumeClaim.ClaimName]
		if !ok {
			tb.Fatalf("pod %s: volume %s: no PersistentVolumeClaim %s", p.Name, v.Name, v.PersistentVolumeClaim.ClaimName)
		}
		return claim
	case v.ConfigMap != nil:
		data, ok := p.node.ConfigMaps[v.ConfigMap.Name]
		if !ok {
			tb.Fatalf("pod %s: volume %s: no ConfigMap %s", p.Name, v.Name, v.ConfigMap.Name)
		}
		writeProjected(tb, dir, data, v.ConfigMap.Items, v.ConfigMap.DefaultMode, fsGroup)
		return dir
	case v.Secret != nil:
		data, ok := p.node.Secrets[v.Secret.SecretName]
		if !ok {
			tb.Fatalf("pod %s: volume %s: no Secret %s", p.Name, v.Name, v.Secret.SecretName)
		}
		writeProjected(tb, dir, data, v.Secret.Items, v.Secret.DefaultMode, fsGroup)
		return dir
	}
	tb.Fatalf("pod %s: volume %s: a kind of volume this kubelet does not know: %+v", p.Name, v.Name, v.VolumeSource)
	return ""
}

// writeProjected writes a Secret's or ConfigMap's keys into dir as the kubelet does: into a timestamped
// folder that the link ..data names, each key's file a link through ..data, owned by the pod's fsGroup.
func writeProjected(tb testing.TB, dir string, data map[string]string, items []corev1.KeyToPath, defaultMode *int32, fsGroup int) {
	tb.Helper()
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	files := map[string]string{}      // path in the volume → key
	modes := map[string]os.FileMode{} // path → its item's own mode
	if len(items) == 0 {
		for k := range data {
			files[k] = k
		}
	}
	for _, it := range items {
		if _, ok := data[it.Key]; !ok {
			tb.Fatalf("volume %s: no key %s", filepath.Base(dir), it.Key)
		}
		files[it.Path] = it.Key
		if it.Mode != nil {
			modes[it.Path] = os.FileMode(*it.Mode)
		}
	}
	stamp := filepath.Join(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.000000000"))
	if err := os.MkdirAll(stamp, 0o755); err != nil {
		tb.Fatal(err)
	}
	links := map[string]bool{} // the volume's top-level entries, each a link through ..data
	for path, key := range files {
		mode := cmp.Or(modes[path], mode)
		file := filepath.Join(stamp, path)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(data[key]), mode); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chmod(file, mode); err != nil {
			tb.Fatal(err)
		}
		if fsGroup >= 0 {
			if err := os.Chown(file, 0, fsGroup); err != nil {
				tb.Fatal(err)
			}
		}
		links[strings.Split(filepath.ToSlash(path), "/")[0]] = true
	}
	for top := range links {
		if err := os.Symlink(filepath.Join("..data", top), filepath.Join(dir, top)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(stamp), filepath.Join(dir, "..data")); err != nil {
		tb.Fatal(err)
	}
}

// start starts a container of the pod.
func (p *Pod) start(tb testing.TB, c corev1.Container) *Container {
	tb.Helper()
	img, ok := p.node.Images[c.Image]
	if !ok {
		tb.Fatalf("pod %s: container %s: no image %s on this node", p.Name, c.Name, c.Image)
	}
	l := launch{SandboxPID: p.sandbox.Process.Pid, Image: img, Hosts: filepath.Join(p.dir, "hosts"), Resolv: filepath.Join(p.dir, "resolv.conf"),
		WorkingDir: cmp.Or(c.WorkingDir, img.WorkingDir)}
	l.Scratch = filepath.Join(p.dir, "containers", c.Name)
	if err := os.MkdirAll(l.Scratch, 0o755); err != nil {
		tb.Fatal(err)
	}
	if len(c.Command) == 0 {
		tb.Fatalf("pod %s: container %s has no command: this kubelet knows no image's entrypoint", p.Name, c.Name)
	}
	l.Env = p.env(tb, c, img)
	vars := map[string]string{}
	for _, e := range l.Env {
		k, v, _ := strings.Cut(e, "=")
		vars[k] = v
	}
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		l.Argv = append(l.Argv, expand(a, vars))
	}
	l.UID, l.GID, l.Groups, l.ReadOnly, l.NoNewPrivs = p.user(tb, c)
	for _, m := range c.VolumeMounts {
		src, ok := p.volumes[m.Name]
		if !ok {
			tb.Fatalf("pod %s: container %s mounts %s, which is not a volume of the pod", p.Name, c.Name, m.Name)
		}
		if m.SubPath != "" {
			// A subPath of a Secret or ConfigMap is the file itself, not its link: it is not updated.
			resolved, err := filepath.EvalSymlinks(filepath.Join(src, m.SubPath))
			if err != nil {
				tb.Fatalf("pod %s: container %s: subPath %s of %s: %v", p.Name, c.Name, m.SubPath, m.Name, err)
			}
			src = resolved
		}
		// The kubelet mounts Secrets and ConfigMaps read-only, whatever the mount says.
		readOnly := m.ReadOnly || p.projected[m.Name]
		l.Mounts = append(l.Mounts, bindMount{Source: src, Target: m.MountPath, ReadOnly: readOnly})
	}
	spec, _ := json.Marshal(l)
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	ct := &Container{Name: c.Name, Logs: &Logs{}, done: make(chan struct{})}
	ct.cmd = exec.Command(self)
	ct.cmd.Env = []string{runtimeEnv + "=" + string(spec)}
	ct.cmd.Stdout, ct.cmd.Stderr = ct.Logs, ct.Logs
	ct.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	if err := spawn(ct.cmd); err != nil {
		tb.Fatalf("pod %s: container %s: %v", p.Name, c.Name, err)
	}
	go func() { ct.err = ct.cmd.Wait(); close(ct.done) }()
	p.mu.Lock()
	p.containers[c.Name] = ct
	p.mu.Unlock()
	return ct
}

// env is the container's environment: the image's, then the container's, each valueFrom resolved.
func (p *Pod) env(tb testing.TB, c corev1.Container, img Image) []string {
	tb.Helper()
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, e := range img.Env {
		k, v, _ := strings.Cut(e, "=")
		set(k, v)
	}
	if len(c.EnvFrom) > 0 {
		tb.Fatalf("pod %s: container %s: envFrom is not known to this kubelet", p.Name, c.Name)
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			set(e.Name, expand(e.Value, vars))
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := p.node.Secrets[ref.Name][ref.Key]
			if !ok {
				tb.Fatalf("pod %s: container %s: %s: no key %s in Secret %s", p.Name, c.Name, e.Name, ref.Key, ref.Name)
			}
			set(e.Name, v)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v, ok := p.node.ConfigMaps[ref.Name][ref.Key]
			if !ok {
				tb.Fatalf("pod %s: container %s: %s: no key %s in ConfigMap %s", p.Name, c.Name, e.Name, ref.Key, ref.Name)
			}
			set(e.Name, v)
		default:
			tb.Fatalf("pod %s: container %s: %s: a valueFrom this kubelet does not know", p.Name, c.Name, e.Name)
		}
	}
	set("HOSTNAME", p.Name)
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// expand expands $(NAME) in s as Kubernetes does for env values, command and args: a defined variable's
// value, an undefined one left as written, and $$ for a literal $.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '(':
			if end := strings.IndexByte(s[i:], ')'); end > 0 {
				if v, ok := vars[s[i+2:i+end]]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
			b.WriteByte('$')
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// user is the container's user, group and supplementary groups (the fsGroup), from its security
// context over the pod's, refusing root under runAsNonRoot as the kubelet does.
func (p *Pod) user(tb testing.TB, c corev1.Container) (uid, gid int, groups []int, readOnly, noNewPrivs bool) {
	tb.Helper()
	var nonRoot bool
	img := p.node.Images[c.Image]
	if u, g, ok := strings.Cut(img.User, ":"); img.User != "" {
		uid, _ = strconv.Atoi(u)
		if ok {
			gid, _ = strconv.Atoi(g)
		}
	}
	if sc := p.spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = int(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = int(*sc.RunAsGroup)
		}
		if sc.FSGroup != nil {
			groups = append(groups, int(*sc.FSGroup))
		}
		nonRoot = sc.RunAsNonRoot != nil && *sc.RunAsNonRoot
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = int(*sc.RunAsUser)
		}
		if sc.RunAsGroup != nil {
			gid = int(*sc.RunAsGroup)
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = *sc.RunAsNonRoot
		}
		readOnly = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		noNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	}
	if nonRoot && uid == 0 {
		tb.Fatalf("pod %s: container %s has runAsNonRoot and would run as root", p.Name, c.Name)
	}
	return uid, gid, groups, readOnly, noNewPrivs
}

// probe polls the container's startup probe until it succeeds, then its liveness and readiness probes,
// at their periods, as the kubelet does; the readiness result is the container's, and a liveness probe
// that fails failureThreshold times in a row fails the test (the kubelet would restart the container).
func (p *Pod) probe(ctx context.Context, c corev1.Container) {
	started := time.Now()
	ports := map[string]int{}
	for _, port := range c.Ports {
		ports[port.Name] = int(port.ContainerPort)
	}
	check := func(pr *corev1.Probe) bool {
		h := pr.HTTPGet
		port := h.Port.IntValue()
		if h.Port.StrVal != "" {
			port = ports[h.Port.StrVal]
		}
		timeout := time.Duration(max(pr.TimeoutSeconds, 1)) * time.Second
		client := &http.Client{Timeout: timeout, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return p.Dial(ctx, port) },
		}}
		defer client.CloseIdleConnections()
		resp, err := client.Get(fmt.Sprintf("http://%s%s", net.JoinHostPort(p.IP, strconv.Itoa(port)), h.Path))
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 400
	}
	period := func(pr *corev1.Probe) time.Duration { return time.Duration(max(pr.PeriodSeconds, 1)) * time.Second }
	wait := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	if pr := c.StartupProbe; pr != nil {
		for failures := 0; !check(pr); {
			if failures++; failures >= int(max(pr.FailureThreshold, 1)) {
				p.mu.Lock()
				p.failed = fmt.Errorf("container %s: the startup probe failed %d times", c.Name, failures)
				p.mu.Unlock()
				return
			}
			if !wait(period(pr)) {
				return
			}
		}
	}
	// Without a readiness probe a running container is ready; without a liveness probe, live.
	ready, live := c.ReadinessProbe, c.LivenessProbe
	if ready == nil {
		p.setReady(c.Name, true)
	}
	next := func(pr *corev1.Probe) time.Time {
		if pr == nil {
			return time.Time{}
		}
		return started.Add(time.Duration(pr.InitialDelaySeconds) * time.Second)
	}
	nextReady, nextLive := next(ready), next(live)
	liveFailures, readyFailures := 0, 0
	for ready != nil || live != nil {
		now := time.Now()
		if ready != nil && !now.Before(nextReady) {
			if check(ready) {
				readyFailures = 0
				p.setReady(c.Name, true)
			} else if readyFailures++; readyFailures >= int(max(ready.FailureThreshold, 1)) {
				p.setReady(c.Name, false)
			}
			nextReady = time.Now().Add(period(ready))
		}
		if live != nil && !now.Before(nextLive) {
			if check(live) {
				liveFailures = 0
			} else if liveFailures++; liveFailures >= int(max(live.FailureThreshold, 1)) && ctx.Err() == nil {
				p.tb.Errorf("pod %s: container %s: the liveness probe failed %d times: the kubelet would restart it", p.Name, c.Name, liveFailures)
			}
			nextLive = time.Now().Add(period(live))
		}
		due := nextReady
		if ready == nil || (live != nil && nextLive.Before(due)) {
			due = nextLive
		}
		if !wait(time.Until(due)) {
			return
		}
	}
}

func (p *Pod) setReady(container string, ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ready[container] = ready
}

// Ready says whether the pod is ready, as an endpoint of its Services: every container running, and
// ready by its readiness probe's last answer; a stopped pod is not.
func (p *Pod) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	for _, spec := range p.spec.Containers {
		c := p.containers[spec.Name]
		if c == nil || !p.ready[spec.Name] {
			return false
		}
		select {
		case <-c.done:
			return false
		default:
		}
	}
	return true
}

// WaitReady waits until the pod is ready, failing the test when a container ends or fails its startup
// probe, or after timeout, with its containers' logs.
func (p *Pod) WaitReady(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	for deadline := time.Now().Add(timeout); !p.Ready(); time.Sleep(100 * time.Millisecond) {
		for _, spec := range p.spec.Containers {
			c := p.Containers()[spec.Name]
			select {
			case <-c.done:
				tb.Fatalf("pod %s: container %s ended: %v\n%s", p.Name, spec.Name, c.err, c.Logs)
			default:
			}
		}
		p.mu.Lock()
		failed := p.failed
		p.mu.Unlock()
		if failed != nil {
			tb.Fatalf("pod %s: %v\n%s", p.Name, failed, p.AllLogs())
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pod %s is not ready after %s:\n%s", p.Name, timeout, p.AllLogs())
		}
	}
}

// Containers returns the pod's containers by name.
func (p *Pod) Containers() map[string]*Container {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.containers)
}

// AllLogs returns every container's logs, each under its name.
func (p *Pod) AllLogs() string {
	var b strings.Builder
	for name, c := range p.Containers() {
		fmt.Fprintf(&b, "--- %s/%s\n%s\n", p.Name, name, c.Logs)
	}
	return b.String()
}

// Wait waits for the container to end, and returns how it ended.
func (c *Container) Wait(timeout time.Duration) error {
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		return errors.New("still running after " + timeout.String())
	}
}

// Kill kills the pod at once, as when its processes crash together or are OOM-killed: every container's
// every process (each is PID 1 of its PID namespace, whose processes end with it) and the sandbox, with
// SIGKILL. The kernel closes the pod's connections, as it would on a node that stays up.
func (p *Pod) Kill() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	for _, c := range p.Containers() {
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	p.Stop()
}

// Stop stops the pod as the kubelet deletes one: SIGTERM to every container at once, SIGKILL to those
// still running after the pod's terminationGracePeriodSeconds (which fails the test: a container should
// end on SIGTERM); then its sandbox, and with it its network.
func (p *Pod) Stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	if p.stopProbes != nil {
		p.stopProbes()
	}
	grace := 30 * time.Second
	if p.spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*p.spec.TerminationGracePeriodSeconds) * time.Second
	}
	end := time.Now().Add(grace)
	for _, c := range p.Containers() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for name, c := range p.Containers() {
		select {
		case <-c.done:
		case <-time.After(time.Until(end)):
			_ = c.cmd.Process.Kill()
			<-c.done
			p.tb.Errorf("pod %s: container %s did not end within %s of SIGTERM, and was killed:\n%s", p.Name, name, grace, c.Logs)
		}
	}
	if p.sandbox != nil && p.sandbox.ProcessState == nil {
		_ = p.sandbox.Process.Kill()
		_ = p.sandbox.Wait()
	}
}
