package live

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"pyscope/internal/fuzzguard"
)

const hexID = "3f2a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"

// cgroupCases are cgroup paths as each runtime names its containers (v1
// and v2, cgroupfs and systemd drivers).
var cgroupCases = []struct{ path, runtime, id string }{
	{"/docker/" + hexID, "docker", "3f2a1b2c3d4e"},
	{"/system.slice/docker-" + hexID + ".scope", "docker", "3f2a1b2c3d4e"},
	{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_5e6f_7a8b_9c0d_1e2f3a4b5c6d.slice/cri-containerd-" + hexID + ".scope", "kubernetes", "3f2a1b2c3d4e"},
	{"/kubepods/besteffort/pod1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d/" + hexID, "kubernetes", "3f2a1b2c3d4e"},
	{"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + hexID + ".scope/container", "podman", "3f2a1b2c3d4e"},
	{"/machine.slice/crio-" + hexID + ".scope", "cri-o", "3f2a1b2c3d4e"},
	{"/system.slice/containerd.service/default/" + hexID, "", ""},
	{"/lxc.payload.web/system.slice/app.service", "lxc", "web"},
	{"/lxc/web", "lxc", "web"},
	{`/machine.slice/machine-test\x2dvm.scope/payload`, "systemd-nspawn", "test-vm"},
	{"/user.slice/user-0.slice/session-1.scope", "", ""},
	{"/", "", ""},
	{"", "", ""},
}

func TestContainerRuntime(t *testing.T) {
	for _, c := range cgroupCases {
		if rt, id := ContainerRuntime(c.path); rt != c.runtime || id != c.id {
			t.Errorf("%q: %q %q, want %q %q", c.path, rt, id, c.runtime, c.id)
		}
	}
}

func TestCgroupPath(t *testing.T) {
	for in, want := range map[string]string{
		"0::/system.slice/app.service\n":                      "/system.slice/app.service",
		"12:pids:/docker/x\n1:name=systemd:/docker/y\n0::/\n": "/",
		"12:pids:/docker/x\n1:name=systemd:/docker/y\n":       "/docker/y",
		"12:pids:/docker/x\n":                                 "/docker/x",
		"garbage":                                             "",
	} {
		if got := cgroupPath(in); got != want {
			t.Errorf("cgroupPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCgroup feeds /proc/PID/cgroup texts (which container runtimes name
// as they like) to the parsers ps uses.
func FuzzCgroup(f *testing.F) {
	for _, c := range cgroupCases {
		f.Add("0::" + c.path + "\n")
		f.Add("3:cpu,cpuacct:" + c.path + "\n1:name=systemd:" + c.path + "\n")
	}
	fuzzguard.Fuzz(f, func(t *testing.T, s string) {
		p := cgroupPath(s)
		if !strings.Contains(s, p) {
			t.Fatalf("cgroupPath(%q) = %q, not from the text", s, p)
		}
		rt, id := ContainerRuntime(p)
		if rt == "" && id != "" || len(id) > len(p) {
			t.Fatalf("ContainerRuntime(%q) = %q %q", p, rt, id)
		}
	})
}

// TestIdentify reads a child in PID and mount namespaces of its own: its
// parent, threads, argv, its PID in there, and the namespaces it does not
// share; and a plain child, in none.
func TestIdentify(t *testing.T) {
	plain := exec.Command("sleep", "1000")
	boxed := exec.Command("sleep", "1001")
	boxed.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	for _, c := range []*exec.Cmd{plain, boxed} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { c.Process.Kill(); c.Wait() }()
	}
	id, err := Identify(plain.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if id.PPID != os.Getpid() || id.Threads != 1 || !slices.Equal(id.Cmdline, []string{"sleep", "1000"}) ||
		id.NSPID != plain.Process.Pid || id.Container.Contained() || id.UID != os.Getuid() {
		t.Errorf("plain child: %+v", id)
	}
	id, err = Identify(boxed.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	c := id.Container
	if id.NSPID != 1 || !c.PIDNamespace || !c.MountNamespace || c.UserNamespace || !c.Contained() {
		t.Errorf("namespaced child: %+v", id)
	}
	if exe, err := ExecutablePath(boxed.Process.Pid); err != nil || !strings.HasSuffix(exe, "/sleep") {
		t.Errorf("executable %q, %v", exe, err)
	}
}
