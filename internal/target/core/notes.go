package core

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"pyscope/internal/target"
)

// Bounds on untrusted note contents.
const (
	maxNotes       = 1 << 20
	maxFileEntries = 1 << 20
	maxPathLen     = 4096
	maxAuxv        = 1024
)

// fpregsSize is the size of NT_FPREGSET: x86-64's user_fpregs_struct
// (FXSAVE layout), arm64's user_fpsimd_state.
func fpregsSize(arch target.Arch) int {
	switch arch {
	case target.AMD64:
		return 512
	case target.ARM64:
		return 528
	}
	return -1
}

type rawNote struct {
	name string
	typ  uint32
	desc []byte
}

// parseNotes splits a PT_NOTE segment into notes. It stops at the first
// malformed header and returns what it parsed with an error.
func parseNotes(b []byte) ([]rawNote, error) {
	var out []rawNote
	for len(b) > 0 {
		if len(out) >= maxNotes {
			return out, fmt.Errorf("more than %d notes", maxNotes)
		}
		if len(b) < 12 {
			return out, fmt.Errorf("truncated note header")
		}
		nsz := uint64(binary.LittleEndian.Uint32(b[0:]))
		dsz := uint64(binary.LittleEndian.Uint32(b[4:]))
		typ := binary.LittleEndian.Uint32(b[8:])
		b = b[12:]
		na := (nsz + 3) &^ 3
		da := (dsz + 3) &^ 3
		if na > uint64(len(b)) || nsz > na {
			return out, fmt.Errorf("note name overruns its segment")
		}
		name := string(bytes.TrimRight(b[:nsz], "\x00"))
		b = b[na:]
		if dsz > uint64(len(b)) {
			return out, fmt.Errorf("note %q type %#x overruns its segment", name, typ)
		}
		out = append(out, rawNote{name: name, typ: typ, desc: b[:dsz]})
		if da > uint64(len(b)) {
			da = uint64(len(b)) // last note without padding
		}
		b = b[da:]
	}
	return out, nil
}

// fileEntry is one NT_FILE record.
type fileEntry struct {
	Start, End, Offset uint64
	Path               string
}

// notes is what the core's notes say about the process.
type notes struct {
	threads    []target.Thread
	cursig     []int    // pr_cursig per thread
	fpregs     [][]byte // NT_FPREGSET per thread (nil when absent)
	pid        int
	comm       string
	cmdline    string
	files      []fileEntry
	auxv       [][2]uint64
	siginfo    []byte // first NT_SIGINFO
	threadComm map[int]string
	mapsText   string
	problems   []string
}

// decodeNotes interprets parsed notes; malformed ones are skipped and
// recorded in problems.
func decodeNotes(ns []rawNote, arch target.Arch) *notes {
	n := &notes{}
	regsSize := target.PrstatusRegsSize(arch)
	for _, r := range ns {
		switch {
		case r.name == "CORE" && r.typ == target.NtPrstatus:
			if len(r.desc) < target.PrstatusRegOff+regsSize {
				n.problems = append(n.problems, "short NT_PRSTATUS note")
				continue
			}
			d := r.desc
			n.threads = append(n.threads, target.Thread{
				TID:  int(int32(binary.LittleEndian.Uint32(d[target.PrstatusPidOff:]))),
				Regs: target.DecodePrstatusRegs(arch, d[target.PrstatusRegOff:target.PrstatusRegOff+regsSize]),
			})
			n.cursig = append(n.cursig, int(int16(binary.LittleEndian.Uint16(d[12:]))))
			n.fpregs = append(n.fpregs, nil)
		case r.name == "CORE" && r.typ == target.NtFpregset:
			// Belongs to the thread of the NT_PRSTATUS before it.
			if k := len(n.fpregs) - 1; k >= 0 && n.fpregs[k] == nil && len(r.desc) == fpregsSize(arch) {
				n.fpregs[k] = r.desc
			}
		case r.name == "CORE" && r.typ == target.NtPrpsinfo:
			if len(r.desc) < target.PrpsinfoSize {
				n.problems = append(n.problems, "short NT_PRPSINFO note")
				continue
			}
			d := r.desc
			n.pid = int(int32(binary.LittleEndian.Uint32(d[24:])))
			n.comm = cString(d[40:56])
			n.cmdline = strings.TrimRight(cString(d[56:136]), " ")
		case r.name == "CORE" && r.typ == target.NtAuxv:
			d := r.desc
			for len(d) >= 16 && len(n.auxv) < maxAuxv {
				k, v := binary.LittleEndian.Uint64(d), binary.LittleEndian.Uint64(d[8:])
				d = d[16:]
				if k == 0 { // AT_NULL
					break
				}
				n.auxv = append(n.auxv, [2]uint64{k, v})
			}
		case r.name == "CORE" && r.typ == target.NtFile:
			files, err := decodeFileNote(r.desc)
			if err != nil {
				n.problems = append(n.problems, "NT_FILE note: "+err.Error())
			}
			n.files = files
		case r.name == "CORE" && r.typ == target.NtSiginfo:
			if n.siginfo == nil && len(r.desc) >= 16 {
				n.siginfo = r.desc
			}
		case r.name == target.PyscopeNoteName && r.typ == target.NtPyscopeThreads:
			n.threadComm = map[int]string{}
			for d := r.desc; len(d) >= 20; d = d[20:] {
				n.threadComm[int(int32(binary.LittleEndian.Uint32(d)))] = cString(d[4:20])
			}
		case r.name == target.PyscopeNoteName && r.typ == target.NtPyscopeMaps:
			n.mapsText = string(r.desc)
		}
	}
	return n
}

// decodeFileNote decodes NT_FILE: count, page size, count (start, end,
// page offset) triples, then count NUL-terminated paths.
func decodeFileNote(d []byte) ([]fileEntry, error) {
	if len(d) < 16 {
		return nil, fmt.Errorf("too short")
	}
	count := binary.LittleEndian.Uint64(d)
	pageSize := binary.LittleEndian.Uint64(d[8:])
	if count > maxFileEntries || count > uint64(len(d)-16)/24 {
		return nil, fmt.Errorf("bad entry count %d", count)
	}
	if pageSize == 0 || pageSize > 1<<30 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("bad page size %d", pageSize)
	}
	names := d[16+24*count:]
	out := make([]fileEntry, 0, count)
	for i := uint64(0); i < count; i++ {
		e := d[16+24*i:]
		start := binary.LittleEndian.Uint64(e)
		end := binary.LittleEndian.Uint64(e[8:])
		off := binary.LittleEndian.Uint64(e[16:])
		j := bytes.IndexByte(names, 0)
		if j < 0 {
			return out, fmt.Errorf("truncated file names")
		}
		path := names[:j]
		names = names[j+1:]
		if end <= start || off > (^uint64(0))/pageSize {
			continue
		}
		if len(path) > maxPathLen {
			path = path[:maxPathLen]
		}
		out = append(out, fileEntry{Start: start, End: end, Offset: off * pageSize, Path: string(path)})
	}
	return out, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
