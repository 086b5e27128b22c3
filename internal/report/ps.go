package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mattn/go-runewidth"

	"pyscope/internal/model"
)

// ProcessTable writes `pyscope ps`: one row per process, columns as wide
// as their widest cell and aligned left (as docker ps), the command line
// last; width > 0 cuts rows to it
// (a terminal's width, as ps does). Processes whose interpreter could not
// be read are explained under the table.
func ProcessTable(w io.Writer, procs []model.PythonProcess, width int) error {
	head := []string{"PID", "PPID", "USER", "PYTHON", "BUILD", "THREADS", "CONTAINER", "EXECUTABLE", "COMMAND"}
	rows := [][]string{head}
	var notes []string
	for _, p := range procs {
		user := p.User
		if user == "" {
			user = strconv.Itoa(p.UID)
		}
		version := p.Version
		if version == "" {
			version = "?"
		}
		rows = append(rows, []string{strconv.Itoa(p.PID), strconv.Itoa(p.PPID), Safe(user), Safe(version),
			BuildString(p), strconv.Itoa(p.Threads), ContainerString(p.Container), Safe(p.Executable),
			Safe(strings.Join(p.Cmdline, " "))})
		if p.Error != "" {
			notes = append(notes, fmt.Sprintf("%d: %s", p.PID, Safe(p.Error)))
		}
	}
	widths := make([]int, len(head))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], runewidth.StringWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-runewidth.StringWidth(c))
			if i == len(r)-1 {
				line.WriteString(c)
			} else {
				line.WriteString(c + pad + " ")
			}
		}
		s := line.String()
		if width > 0 && runewidth.StringWidth(s) > width {
			s = runewidth.Truncate(s, width, "")
		}
		b.WriteString(strings.TrimRight(s, " ") + "\n")
	}
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// BuildString is "shared", "static", with ",debug" and ",free-threaded"
// as they apply; "?" when the interpreter could not be read.
func BuildString(p model.PythonProcess) string {
	if p.Build == nil {
		return "?"
	}
	s := "static"
	if p.Build.Shared {
		s = "shared"
	}
	if p.Build.Debug {
		s += ",debug"
	}
	if p.Build.FreeThreaded {
		s += ",free-threaded"
	}
	return s
}

// ContainerString is the runtime and ID ("docker 3f2a1b2c3d4e"), else the
// namespaces a process does not share with pyscope ("ns:pid,mnt"), else
// "-".
func ContainerString(c *model.Container) string {
	switch {
	case c == nil:
		return "-"
	case c.Runtime != "":
		return strings.TrimSpace(Safe(c.Runtime + " " + c.ID))
	}
	var ns []string
	for _, n := range []struct {
		on   bool
		name string
	}{{c.PIDNamespace, "pid"}, {c.MountNamespace, "mnt"}, {c.UserNamespace, "user"}} {
		if n.on {
			ns = append(ns, n.name)
		}
	}
	return "ns:" + strings.Join(ns, ",")
}
