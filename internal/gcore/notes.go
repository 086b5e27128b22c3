package gcore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"pyscope/internal/target"
)

// prstatusSize is sizeof(struct elf_prstatus): pr_reg, then int pr_fpvalid,
// padded to 8.
func prstatusSize(arch target.Arch) int {
	return (target.PrstatusRegOff + target.PrstatusRegsSize(arch) + 4 + 7) &^ 7
}

// procInfo reads what the notes need beyond the Target: from a live
// target's capability, else nothing (a state of R and zeros).
func procInfo(p target.Target, warn func(string)) target.ProcessInfo {
	pi := target.ProcessInfo{State: 'R'}
	r, ok := p.(target.ProcessInfoReader)
	if !ok {
		return pi
	}
	pi, err := r.ProcessInfo()
	if len(pi.Auxv) == 0 {
		warn(fmt.Sprintf("process %d: cannot read the auxiliary vector (%v); gdb may not find the shared libraries", p.PID(), err))
	}
	return pi
}

// buildNotes lays the notes out in the kernel's order: the first thread's
// NT_PRSTATUS, then the process notes, then its NT_FPREGSET, then each
// other thread's NT_PRSTATUS + NT_FPREGSET; pyscope's own notes last.
func buildNotes(p target.Target, threads []target.Thread, maps []target.Mapping, warn func(string)) []byte {
	pid := p.PID()
	pi := procInfo(p, warn)
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
		addNote(&b, "CORE", target.NtPrstatus, prstatus(p.Arch(), t, pi, len(fpregs) > 0))
		if i == 0 {
			addNote(&b, "CORE", target.NtPrpsinfo, prpsinfo(pi, pid))
			if len(pi.Auxv) > 0 {
				addNote(&b, "CORE", target.NtAuxv, pi.Auxv)
			}
			addNote(&b, "CORE", target.NtFile, fileNote(maps))
		}
		if len(fpregs) > 0 {
			addNote(&b, "CORE", target.NtFpregset, fpregs)
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

func prstatus(arch target.Arch, t target.Thread, pi target.ProcessInfo, fpvalid bool) []byte {
	size := prstatusSize(arch)
	d := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(d[32:], uint32(t.TID))
	le.PutUint32(d[36:], uint32(pi.PPID))
	le.PutUint32(d[40:], uint32(pi.PGRP))
	le.PutUint32(d[44:], uint32(pi.SID))
	if t.Regs != nil && t.Regs.Arch() == arch {
		copy(d[target.PrstatusRegOff:], t.Regs.Prstatus())
	}
	if fpvalid {
		le.PutUint32(d[target.PrstatusRegOff+target.PrstatusRegsSize(arch):], 1)
	}
	return d
}

func prpsinfo(pi target.ProcessInfo, pid int) []byte {
	d := make([]byte, target.PrpsinfoSize)
	le := binary.LittleEndian
	// pr_state is the index of the state letter in the kernel's "RSDTZW".
	st := byte(0)
	sname := pi.State
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
	d[3] = byte(int8(pi.Nice))
	le.PutUint64(d[8:], pi.Flags)
	le.PutUint32(d[16:], pi.UID)
	le.PutUint32(d[20:], pi.GID)
	le.PutUint32(d[24:], uint32(pid))
	le.PutUint32(d[28:], uint32(pi.PPID))
	le.PutUint32(d[32:], uint32(pi.PGRP))
	le.PutUint32(d[36:], uint32(pi.SID))
	copy(d[40:55], pi.Comm)
	copy(d[56:135], pi.Cmdline)
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
