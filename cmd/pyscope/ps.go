package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"pyscope/internal/engine"
	"pyscope/internal/model"
	"pyscope/internal/report"
)

func newPsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the Python processes this user may read",
		Long: `ps lists every process that runs CPython and that this user may read: PID,
parent, user, Python version, build (shared or static libpython, debug,
free-threaded), executable, thread count, container, and command line.

It stops nothing and traces nothing. Only processes whose executable or
mapped libraries look like CPython (python…, libpython…, or an executable
that defines the runtime) are read further, and only as far as dump reads
to find the interpreter.

CONTAINER is the container runtime and ID the process's cgroup names
(docker, podman, containerd, cri-o, kubernetes, lxc, systemd-nspawn), else
"ns:" and the namespaces (pid, mnt, user) it does not share with pyscope,
else "-". PIDs are as pyscope sees them; --json also gives each
process's PID in its own namespace.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(cmd.OutOrStdout(), os.Stderr, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (docs/json-schema.md)")
	return cmd
}

func runPs(w, errw io.Writer, asJSON bool) error {
	s, err := engine.SurveyProcesses()
	if err != nil {
		return fmt.Errorf("cannot list processes: %v", err)
	}
	if asJSON {
		doc := struct {
			Processes  []model.PythonProcess `json:"processes"`
			Unreadable []int                 `json:"unreadable"`
		}{s.Processes, s.Unreadable}
		if doc.Processes == nil {
			doc.Processes = []model.PythonProcess{}
		}
		if doc.Unreadable == nil {
			doc.Unreadable = []int{}
		}
		return report.JSONValue(w, doc)
	}
	width := 0
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		width, _, _ = term.GetSize(int(f.Fd()))
	}
	if err := report.ProcessTable(w, s.Processes, width); err != nil {
		return err
	}
	if n := len(s.Unreadable); n > 0 {
		pids := fmt.Sprint(s.Unreadable[:min(n, 5)])
		if n > 5 {
			pids = pids[:len(pids)-1] + " …]"
		}
		what := fmt.Sprintf("%d processes %s", n, pids)
		if n == 1 {
			what = fmt.Sprintf("process %d", s.Unreadable[0])
		}
		if os.Geteuid() == 0 {
			fmt.Fprintf(errw, "pyscope: %s refused to be read, even by root (it may run Python): pyscope dump PID says why\n", what)
		} else {
			fmt.Fprintf(errw, "pyscope: %s could not be read by this user (they may run Python): run as root or with CAP_SYS_PTRACE to list them\n", what)
		}
	}
	return nil
}
