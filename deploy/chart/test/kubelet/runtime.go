package kubelet

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// runtimeEnv names the environment variable that makes a process of the test binary a pod's sandbox or
// one of its containers: it holds the launch, in JSON. Main acts on it.
const runtimeEnv = "AIRFLOW_GATEWAY_KUBELET_LAUNCH"

// launch is what the node tells the process it starts as a sandbox or a container.
type launch struct {
	// Sandbox: the process holds the pod's network, UTS and IPC namespaces, as a pod's pause container
	// does, with the loopback interface up and the pod's name as its host name.
	Sandbox  bool
	Hostname string

	// A container joins the namespaces of the sandbox SandboxPID, and has a mount and a PID namespace of
	// its own (it is PID 1 there, so that its end ends every process it started).
	SandboxPID int
	Image      Image
	Scratch    string // a folder where the container's writable layer (a tmpfs) is mounted
	Mounts     []bindMount
	Hosts      string // the pod's /etc/hosts and /etc/resolv.conf, as the kubelet writes them
	Resolv     string
	ReadOnly   bool // readOnlyRootFilesystem
	NoNewPrivs bool // allowPrivilegeEscalation: false
	UID, GID   int
	Groups     []int
	Argv, Env  []string
	WorkingDir string
}

// bindMount is a volume's folder or file bind-mounted at its mount path in the container.
type bindMount struct {
	Source, Target string
	ReadOnly       bool
}

// Main makes this process the sandbox or container a Node started it as, and never returns then; it
// returns at once in any other process. A test binary that starts pods calls it first, in TestMain.
func Main() {
	spec := os.Getenv(runtimeEnv)
	if spec == "" {
		return
	}
	// Namespaces joined with setns are the calling thread's: the thread that joins them is the one that
	// executes the container's program.
	runtime.LockOSThread()
	var l launch
	err := json.Unmarshal([]byte(spec), &l)
	if err == nil {
		if l.Sandbox {
			err = sandbox(l)
		} else {
			err = container(l)
		}
	}
	fmt.Fprintf(os.Stderr, "kubelet: %v\n", err)
	os.Exit(128)
}

// sandbox holds the pod's namespaces until it is told to stop.
func sandbox(l launch) error {
	if err := unix.Sethostname([]byte(l.Hostname)); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("ready")
	<-stop
	os.Exit(0)
	return nil
}

// loopbackUp sets the network namespace's lo up, as a container runtime's network plugin does.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}

// container builds the container's root (the image's files under a writable layer, /proc, /dev, the pod's
// /etc/hosts and the volumes at their mount paths), enters it as the container's user, and executes its
// program.
func container(l launch) error {
	for _, ns := range []struct {
		name string
		kind int
	}{{"net", unix.CLONE_NEWNET}, {"uts", unix.CLONE_NEWUTS}, {"ipc", unix.CLONE_NEWIPC}} {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/%s", l.SandboxPID, ns.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("the sandbox's %s namespace: %w", ns.name, err)
		}
		if err := unix.Setns(fd, ns.kind); err != nil {
			return fmt.Errorf("joining the sandbox's %s namespace: %w", ns.name, err)
		}
		unix.Close(fd)
	}
	// Nothing mounted here reaches the node's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("private mounts: %w", err)
	}
	if err := unix.Mount("tmpfs", l.Scratch, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("the writable layer: %w", err)
	}
	upper, work, root := filepath.Join(l.Scratch, "upper"), filepath.Join(l.Scratch, "work"), filepath.Join(l.Scratch, "root")
	for _, dir := range []string{upper, work, root} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
	}
	// Folders the image holds empty: opaque in the writable layer, so that nothing of the lower one shows.
	for _, d := range l.Image.Empty {
		dir := filepath.Join(upper, d.Path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(dir, d.Mode); err != nil {
			return err
		}
		if err := unix.Setxattr(dir, "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			return fmt.Errorf("%s empty: %w", d.Path, err)
		}
	}
	if err := unix.Mount("overlay", root, "overlay", 0, fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", l.Image.Root, upper, work)); err != nil {
		return fmt.Errorf("the root over the image's files: %w", err)
	}
	for _, d := range l.Image.Dirs {
		path := filepath.Join(root, d.Path)
		if err := os.MkdirAll(path, 0o755); err != nil {
			return err
		}
		if err := os.Chown(path, d.UID, d.GID); err != nil {
			return err
		}
		if err := os.Chmod(path, d.Mode); err != nil {
			return err
		}
	}
	// The runtime's own mounts first, then the volumes, which may lie over them.
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("proc", proc, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("/proc: %w", err)
	}
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("/dev", dev, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	mounts := append([]bindMount{{Source: l.Hosts, Target: "/etc/hosts", ReadOnly: true},
		{Source: l.Resolv, Target: "/etc/resolv.conf", ReadOnly: true}}, l.Mounts...)
	for _, m := range mounts {
		if err := bind(root, m); err != nil {
			return err
		}
	}
	if l.ReadOnly {
		if err := unix.Mount("", root, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("a read-only root: %w", err)
		}
	}
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir(cmp.Or(l.WorkingDir, "/")); err != nil {
		return fmt.Errorf("workingDir: %w", err)
	}
	program, err := lookPath(l.Argv[0], l.Env)
	if err != nil {
		return err
	}
	// The syscall package's credential calls act on every thread of the process.
	if err := syscall.Setgroups(l.Groups); err != nil {
		return fmt.Errorf("groups: %w", err)
	}
	if err := syscall.Setgid(l.GID); err != nil {
		return fmt.Errorf("group: %w", err)
	}
	if err := syscall.Setuid(l.UID); err != nil {
		return fmt.Errorf("user: %w", err)
	}
	// A change of user clears the parent-death signal the node set: set it again.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	if l.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	}
	return fmt.Errorf("exec %s: %w", program, syscall.Exec(program, l.Argv, l.Env))
}

// bind mounts m's source at its target under root, read-only when asked.
func bind(root string, m bindMount) error {
	target := filepath.Join(root, m.Target)
	st, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("volume at %s: %w", m.Target, err)
	}
	if st.IsDir() {
		err = os.MkdirAll(target, 0o755)
	} else if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
		var f *os.File
		if f, err = os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("mount point %s: %w", m.Target, err)
	}
	if err := unix.Mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mounting %s: %w", m.Target, err)
	}
	if m.ReadOnly {
		if err := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("%s read-only: %w", m.Target, err)
		}
	}
	return nil
}

// lookPath finds the container's program as a container runtime does: a path as it is, a name on the
// container's PATH.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on the container's PATH %s", name, path)
}
