package gcore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"pyscope/internal/target"
)

const (
	ntPrstatus = 1
	ntFpregset = 2
	ntPrpsinfo = 3
	ntAuxv     = 6
	ntFile     = 0x46494c45

	prpsinfoSize = 136
	// elf_prstatus up to pr_reg, the same on x86-64 and arm64.
	prstatusRegOff = 112
)

// prstatusSize is sizeof(struct elf_prstatus): pr_reg, then int pr_fpvalid,
// padded to 8.
func prstatusSize(arch target.Arch) int {
	return (prstatusRegOff + target.PrstatusRegsSize(arch) + 4 + 7) &^ 7
}

// procInfo is what the notes need from /proc/PID beyond the Target.
type procInfo struct {
	state         byte
	ppid, pgrp    int
	sid, nice     int
	flags         uint64
	uid, gid      uint32
	comm, cmdline string
	auxv          []byte
}

func readProcInfo(pid int, warn func(string)) procInfo {
	pi := procInfo{state: 'R'}
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	if b, err := readLimited(dir+"stat", 1<<16); err == nil {
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			at := func(k int) int {
				if k < len(f) {
					v, _ := strconv.Atoi(f[k])
					return v
				}
				return 0
			}
			if len(f) > 0 && len(f[0]) > 0 {
				pi.state = f[0][0]
			}
			pi.ppid, pi.pgrp, pi.sid = at(1), at(2), at(3)
			pi.nice = at(16)
			if len(f) > 6 {
				pi.flags, _ = strconv.ParseUint(f[6], 10, 64)
			}
		}
	}
	if b, err := readLimited(dir+"status", 1<<16); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseUint(f[1], 10, 32)
			switch f[0] {
			case "Uid:":
				pi.uid = uint32(v)
			case "Gid:":
				pi.gid = uint32(v)
			}
		}
	}
	if b, err := readLimited(dir+"comm", 64); err == nil {
		pi.comm = strings.TrimSuffix(string(b), "\n")
	}
	if b, err := readLimited(dir+"cmdline", 4096); err == nil {
		pi.cmdline = strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
	}
	b, err := readLimited(dir+"auxv", 1<<16)
	if err != nil || len(b) == 0 {
		warn(fmt.Sprintf("process %d: cannot read the auxiliary vector (%v); gdb may not find the shared libraries", pid, err))
	}
	pi.auxv = b
	return pi
}

// buildNotes lays the notes out in the kernel's order: the first thread's
// NT_PRSTATUS, then the process notes, then its NT_FPREGSET, then each
// other thread's NT_PRSTATUS + NT_FPREGSET; pyscope's own notes last.
func buildNotes(p target.Target, threads []target.Thread, maps []target.Mapping, warn func(string)) []byte {
	pid := p.PID()
	pi := readProcInfo(pid, warn)
	fp, _ := p.(fpRegser)
	var b bytes.Buffer
	for i, t := range threads {
		var fpregs []byte
		if fp != nil {
			fpregs, _ = fp.FPRegs(t.TID)
		}
		if t.Regs == nil {
			warn(fmt.Sprintf("thread %d of process %d: registers unavailable, written as zeros", t.TID, pid))
		}
		addNote(&b, "CORE", ntPrstatus, prstatus(p.Arch(), t, pi, len(fpregs) > 0))
		if i == 0 {
			addNote(&b, "CORE", ntPrpsinfo, prpsinfo(pi, pid))
			if len(pi.auxv) > 0 {
				addNote(&b, "CORE", ntAuxv, pi.auxv)
			}
			addNote(&b, "CORE", ntFile, fileNote(maps))
		}
		if len(fpregs) > 0 {
			addNote(&b, "CORE", ntFpregset, fpregs)
		}
	}
	addNote(&b, target.PyscopeNoteName, target.NtPyscopeThreads, threadNames(threads))
	addNote(&b, target.PyscopeNoteName, target.NtPyscopeMaps, mapsText(maps))
	return b.Bytes()
}

func addNote(b *bytes.Buffer, name string, typ uint32, desc []byte) {
	var h [12]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(name)+1))
	binary.LittleEndian.PutUint32(h[4:], uint32(len(desc)))
	binary.LittleEndian.PutUint32(h[8:], typ)
	b.Write(h[:])
	b.WriteString(name)
	b.WriteByte(0)
	pad(b)
	b.Write(desc)
	pad(b)
}

func pad(b *bytes.Buffer) {
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
}

func prstatus(arch target.Arch, t target.Thread, pi procInfo, fpvalid bool) []byte {
	size := prstatusSize(arch)
	d := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(d[32:], uint32(t.TID))
	le.PutUint32(d[36:], uint32(pi.ppid))
	le.PutUint32(d[40:], uint32(pi.pgrp))
	le.PutUint32(d[44:], uint32(pi.sid))
	if t.Regs != nil && t.Regs.Arch() == arch {
		copy(d[prstatusRegOff:], t.Regs.Prstatus())
	}
	if fpvalid {
		le.PutUint32(d[prstatusRegOff+target.PrstatusRegsSize(arch):], 1)
	}
	return d
}

func prpsinfo(pi procInfo, pid int) []byte {
	d := make([]byte, prpsinfoSize)
	le := binary.LittleEndian
	// pr_state is the index of the state letter in the kernel's "RSDTZW".
	st := byte(0)
	sname := pi.state
	if sname == 't' {
		sname = 'T'
	}
	if i := strings.IndexByte("RSDTZW", sname); i >= 0 {
		st = byte(i)
	}
	d[0] = st
	d[1] = sname
	if sname == 'Z' {
		d[2] = 1
	}
	d[3] = byte(int8(pi.nice))
	le.PutUint64(d[8:], pi.flags)
	le.PutUint32(d[16:], pi.uid)
	le.PutUint32(d[20:], pi.gid)
	le.PutUint32(d[24:], uint32(pid))
	le.PutUint32(d[28:], uint32(pi.ppid))
	le.PutUint32(d[32:], uint32(pi.pgrp))
	le.PutUint32(d[36:], uint32(pi.sid))
	copy(d[40:55], pi.comm)
	copy(d[56:135], pi.cmdline)
	return d
}

// fileNote is NT_FILE: every file-backed mapping, offsets in pages.
func fileNote(maps []target.Mapping) []byte {
	var ents []target.Mapping
	for _, m := range maps {
		if strings.HasPrefix(m.Path, "/") {
			ents = append(ents, m)
		}
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	var u [8]byte
	put := func(v uint64) { le.PutUint64(u[:], v); b.Write(u[:]) }
	put(uint64(len(ents)))
	put(pageSize)
	for _, m := range ents {
		put(m.Start)
		put(m.End)
		put(m.Offset / pageSize)
	}
	for _, m := range ents {
		b.WriteString(m.Path)
		b.WriteByte(0)
	}
	return b.Bytes()
}

func threadNames(threads []target.Thread) []byte {
	d := make([]byte, 20*len(threads))
	for i, t := range threads {
		binary.LittleEndian.PutUint32(d[20*i:], uint32(t.TID))
		copy(d[20*i+4:20*i+19], t.Comm)
	}
	return d
}

func mapsText(maps []target.Mapping) []byte {
	var b bytes.Buffer
	for _, m := range maps {
		fmt.Fprintf(&b, "%x-%x %s %08x 00:00 %d", m.Start, m.End, m.Perms, m.Offset, m.Inode)
		if m.Path != "" {
			b.WriteString(" " + m.Path)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
