package core

import (
	"sort"
	"strings"

	"pyscope/internal/target"
)

const maxMappings = 1 << 20

// parseMapsText parses /proc/PID/maps lines (as stored by pyscope's gcore
// writer). Malformed lines are skipped.
func parseMapsText(s string) []target.Mapping {
	var out []target.Mapping
	for len(s) > 0 && len(out) < maxMappings {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		m, err := target.ParseMapsLine(line)
		if err != nil || m.End == m.Start || len(m.Perms) != 4 {
			continue
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}
