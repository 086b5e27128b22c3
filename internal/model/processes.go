package model

// Processes is a dump of several processes (dump PID PID…, dump
// --subprocesses): one snapshot each, and the processes left out.
type Processes struct {
	Processes []*Snapshot `json:"processes"`
	Skipped   []Skipped   `json:"skipped,omitzero"`
}

// Skipped is a process a dump of several did not read, and why.
type Skipped struct {
	PID        int    `json:"pid"`
	PPID       int    `json:"ppid,omitempty"`
	Executable string `json:"executable,omitempty"`
	// Reason is "not_python" (it runs no CPython), "exited" (it ended
	// before it was read) or "error".
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// PythonProcess is a process that runs CPython, as `pyscope ps` lists it:
// what /proc says and what finding the interpreter told, nothing read
// from a stopped process.
type PythonProcess struct {
	PID     int    `json:"pid"`
	PPID    int    `json:"ppid"`
	UID     int    `json:"uid"`
	User    string `json:"user"` // "" when the UID has no name here
	Version string `json:"version"`
	// Build is how the interpreter was built; absent with Error when it
	// could not be read.
	Build      *Build     `json:"build"`
	Executable string     `json:"executable"`
	Library    *string    `json:"library"`
	Threads    int        `json:"threads"`
	Container  *Container `json:"container"`
	Cmdline    []string   `json:"cmdline"`
	// Error says why the interpreter could not be read (an unsupported
	// version, a process that exited meanwhile); dump would fail the same.
	Error string `json:"error,omitempty"`
}

// Build is how an interpreter was built.
type Build struct {
	// Shared: the runtime is in libpython (Library); else in the
	// executable (static).
	Shared       bool `json:"shared"`
	Debug        bool `json:"debug"`
	FreeThreaded bool `json:"free_threaded"`
}

// Container is how a process is set apart from pyscope: nil when it is
// not (same PID and mount namespaces, no container runtime's cgroup).
type Container struct {
	Runtime        string `json:"runtime"` // "docker", "kubernetes", "podman", "containerd", "cri-o", "lxc", "systemd-nspawn"; "" when none is named
	ID             string `json:"id"`      // the container's ID (12 hex digits) or name, as the runtime shows it
	PIDNamespace   bool   `json:"pid_namespace"`
	MountNamespace bool   `json:"mount_namespace"`
	UserNamespace  bool   `json:"user_namespace"`
	NSPID          int    `json:"ns_pid"` // its PID in its own PID namespace
	Cgroup         string `json:"cgroup"`
}
