package core

import (
	"sort"
	"strconv"
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
		// start-end perms offset dev inode path
		f := strings.SplitN(line, " ", 6)
		if len(f) < 5 {
			continue
		}
		se := strings.SplitN(f[0], "-", 2)
		if len(se) != 2 {
			continue
		}
		start, err1 := strconv.ParseUint(se[0], 16, 64)
		end, err2 := strconv.ParseUint(se[1], 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		inode, err4 := strconv.ParseUint(f[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || end <= start || len(f[1]) != 4 {
			continue
		}
		m := target.Mapping{Start: start, End: end, Offset: off, Perms: f[1], Inode: inode}
		if len(f) == 6 {
			m.Path = strings.TrimLeft(f[5], " ")
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}
