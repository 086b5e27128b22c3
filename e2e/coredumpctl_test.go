package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// coredumpHarness runs systemd-journald, systemd-coredump's socket service
// and, for each target, systemd-coredump as the kernel's core_pattern pipe
// helper (the package's own pattern, %P and the rest filled in as the
// kernel does), all inside a mount namespace of their own where /run,
// /var/lib/systemd and /var/log are fresh: nothing reaches the host, and
// the kernel's core_pattern is left alone. Then coredumpctl runs pyscope.
const coredumpHarness = `set -u
export SYSTEMD_PAGER=cat SYSTEMD_COLORS=0 LC_ALL=C.UTF-8
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /var/lib/systemd
mkdir /var/lib/systemd/coredump
mount -t tmpfs -o mode=0755 tmpfs /var/log
SP=
/lib/systemd/systemd-journald >"$OUT/journald.log" 2>&1 &
JP=$!
trap 'kill $JP $SP 2>/dev/null; wait' EXIT
wait_for() {
	for i in $(seq 400); do [ -S "$1" ] && return 0; sleep 0.05; done
	echo "no socket $1" >&2; exit 1
}
wait_for /run/systemd/journal/socket
systemd-socket-activate --seqpacket --accept --listen=/run/systemd/coredump env LD_LIBRARY_PATH="$LIB" "$HELPER" >"$OUT/socket.log" 2>&1 &
SP=$!
wait_for /run/systemd/coredump
ctl() { LD_LIBRARY_PATH="$LIB" "$COREDUMPCTL" --no-pager "$@"; }
# store PID CORE: what the kernel does when process PID dumps CORE.
store() {
	set -- "$1" "$2" $(printf '%s\n' "$PATTERN" | sed -e "s|%P|$1|g" -e 's|%u|0|g' -e 's|%g|0|g' -e 's|%s|6|g' \
		-e "s|%t|$(date +%s)|g" -e "s|%h|$(hostname)|g" -e 's|%d|1|g' -e 's|%c|18446744073709551615|g')
	pid=$1 core=$2
	shift 3 # the pattern's program: ours is not installed
	LD_LIBRARY_PATH="$LIB" "$HELPER" "$@" <"$core" || { echo "systemd-coredump failed" >&2; exit 1; }
	for i in $(seq 400); do
		ctl -q list "$pid" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "the coredump of $pid never reached the journal" >&2; exit 1
}
store "$PID1" "$CORE1"
store "$PID2" "$CORE2"
ctl list >"$OUT/list.out" 2>&1
PATH="$BINDIR:$PATH" ctl debug --debugger=pyscope --debugger-arguments='--batch -ex "info threads" -ex py-bt' "$PID1" >"$OUT/debugger.out" 2>&1
echo $? >"$OUT/debugger.rc"
SYSTEMD_DEBUGGER="$BINDIR/pyscope-argv" ctl debug -A '--batch -ex py-bt' "$PID1" >"$OUT/env.out" 2>&1
echo $? >"$OUT/env.rc"
# --root names a copy of the machine: its journal, its stored cores, and
# here the container's files, which the host does not have.
for d in /run/log /var/lib/systemd/coredump "$INSIDE2"; do mkdir -p "$ROOT$d"; done
mount --bind /run/log "$ROOT/run/log"
mount --bind /var/lib/systemd/coredump "$ROOT/var/lib/systemd/coredump"
mount --bind "$PREFIX2" "$ROOT$INSIDE2"
PATH="$BINDIR:$PATH" ctl --root="$ROOT" debug --debugger=pyscope -A '--batch -ex py-bt' "$PID2" >"$OUT/root.out" 2>&1
echo $? >"$OUT/root.rc"
`

// TestCoredumpctl stores cores with Debian's systemd-coredump, run by
// hand as the kernel runs it, and opens them with `coredumpctl debug
// --debugger=pyscope`, with $SYSTEMD_DEBUGGER, and with --root for a
// process whose files exist only in its mount namespace (as a
// container's). --debugger-arguments are split by coredumpctl (quotes
// removed) and come before EXE -c CORE, gdb's convention, which pyscope
// takes as gdb does. The cores are pyscope gcore's of live targets:
// systemd-coredump reads the crashing process's /proc while it runs, as
// the kernel keeps it until the helper is done, and the kernel's
// core_pattern is machine-wide.
func TestCoredumpctl(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	cd := testenv.SystemdCoredump(t)
	pattern, err := cd.CorePattern()
	if err != nil {
		t.Fatal(err)
	}
	activate := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	unshare := testenv.NeedCommand(t, "unshare", "util-linux")
	var debian, pbs312 testenv.Interp
	for _, in := range testenv.Interpreters(t) {
		switch in.Name {
		case "debian-3.11":
			debian = in
		case "pbs-3.12.3":
			pbs312 = in
		}
	}
	out := t.TempDir()
	tg1 := testenv.StartTarget(t, debian, "shapes.py")
	core1 := filepath.Join(out, "debian.core")
	gcore(t, bin, tg1.PID, core1)
	tg2 := startNamespaced(t, filepath.Dir(filepath.Dir(pbs312.Path)), "bin/python3.12", "shapes.py", nsOptions{})
	core2 := filepath.Join(out, "container.core")
	gcore(t, bin, tg2.PID, core2)

	bindir := filepath.Join(out, "bin")
	if err := os.Mkdir(bindir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(bindir, "pyscope")); err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$@\" >%q\nexec %q \"$@\"\n", filepath.Join(out, "argv.txt"), bin)
	if err := os.WriteFile(filepath.Join(bindir, "pyscope-argv"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(out, "root")
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "bash", "-c", coredumpHarness)
	cmd.Env = append(os.Environ(), "OUT="+out, "LIB="+cd.LibDir(), "HELPER="+cd.Helper(), "COREDUMPCTL="+cd.Coredumpctl(),
		"PATTERN="+pattern, "BINDIR="+bindir, "ROOT="+root,
		"PID1="+strconv.Itoa(tg1.PID), "CORE1="+core1,
		"PID2="+strconv.Itoa(tg2.PID), "CORE2="+core2, "INSIDE2="+filepath.Dir(filepath.Dir(tg2.Exe)),
		"PREFIX2="+filepath.Dir(filepath.Dir(pbs312.Path)),
		"PATH="+filepath.Dir(activate)+":"+os.Getenv("PATH"))
	if b, err := cmd.CombinedOutput(); err != nil {
		for _, log := range []string{"journald.log", "socket.log"} {
			l, _ := os.ReadFile(filepath.Join(out, log))
			t.Logf("%s:\n%s", log, l)
		}
		t.Fatalf("harness: %v\n%s", err, b)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	list := read("list.out")
	for _, pid := range []int{tg1.PID, tg2.PID} {
		if !regexp.MustCompile(`(?m)\b` + strconv.Itoa(pid) + `\b.*SIGABRT.*present`).MatchString(list) {
			t.Errorf("coredumpctl list has no stored core of %d:\n%s", pid, list)
		}
	}

	t.Run("--debugger", func(t *testing.T) {
		o := read("debugger.out")
		if rc := strings.TrimSpace(read("debugger.rc")); rc != "0" {
			t.Fatalf("coredumpctl debug exit %s:\n%s", rc, o)
		}
		if want := fmt.Sprintf("Core of process %d: Python %s (%s)", tg1.PID, tg1.Oracle.Version, tg1.Oracle.Executable); !strings.Contains(o, want) {
			t.Errorf("no %q:\n%s", want, o)
		}
		for _, th := range tg1.Oracle.Threads {
			if !regexp.MustCompile(`(?m)^[ *] +\d+ +` + strconv.Itoa(th.NativeID) + ` `).MatchString(o) {
				t.Errorf("info threads lacks TID %d:\n%s", th.NativeID, o)
			}
		}
		checkPyBt(t, o, &tg1.Oracle)
	})
	t.Run("SYSTEMD_DEBUGGER", func(t *testing.T) {
		o := read("env.out")
		if rc := strings.TrimSpace(read("env.rc")); rc != "0" {
			t.Fatalf("coredumpctl debug exit %s:\n%s", rc, o)
		}
		checkPyBt(t, o, &tg1.Oracle)
		// What coredumpctl ran: the split -A, then gdb's EXE -c CORE.
		argv := strings.Split(strings.TrimSuffix(read("argv.txt"), "\n"), "\n")
		if len(argv) != 6 || strings.Join(argv[:4], " ") != "--batch -ex py-bt "+tg1.Oracle.Executable || argv[4] != "-c" || !filepath.IsAbs(argv[5]) {
			t.Errorf("pyscope ran with %q, want [--batch -ex py-bt %s -c CORE]", argv, tg1.Oracle.Executable)
		}
	})
	t.Run("--root", func(t *testing.T) {
		o := read("root.out")
		if rc := strings.TrimSpace(read("root.rc")); rc != "0" {
			t.Fatalf("coredumpctl --root debug exit %s:\n%s", rc, o)
		}
		if want := fmt.Sprintf("Core of process %d: Python %s (%s", tg2.PID, tg2.Oracle.Version, tg2.Oracle.Executable); !strings.Contains(o, want) {
			t.Errorf("no %q:\n%s", want, o)
		}
		if strings.Contains(o, "not found") {
			t.Errorf("files not found under the root:\n%s", o)
		}
		checkPyBt(t, o, &tg2.Oracle)
	})
}

func gcore(t *testing.T, bin string, pid int, out string) {
	t.Helper()
	if r := runPyscope(t, bin, nil, "gcore", strconv.Itoa(pid), "-o", out); r.code != 0 {
		t.Fatalf("gcore: exit %d: %s", r.code, r.stderr)
	}
}

var pyBtFrameRe = regexp.MustCompile(`^  File "(.*)", line (-?\d+), in (.*)$`)

// checkPyBt compares the session's py-bt (the main thread's, selected in
// a core without a crash) with the target's own view of its main thread.
func checkPyBt(t *testing.T, out string, o *testenv.Oracle) {
	t.Helper()
	_, bt, ok := strings.Cut(out, "Traceback (most recent call first):\n")
	if !ok {
		t.Fatalf("no py-bt:\n%s", out)
	}
	var got []string
	for _, l := range strings.Split(bt, "\n") {
		if m := pyBtFrameRe.FindStringSubmatch(l); m != nil {
			got = append(got, fmt.Sprintf("%s:%s %s", m[1], m[2], m[3]))
		}
	}
	var want []string
	for _, th := range o.Threads {
		if th.IsMain {
			for _, f := range th.Frames {
				want = append(want, fmt.Sprintf("%s:%d %s", f.File, f.Line, f.Qualname))
			}
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("py-bt:\n%s\nthe target's main thread:\n%s\n(output:\n%s)", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
}

// TestGdbCommandLine: gdb's spellings open the session as debug does:
// `pyscope -p PID`, `pyscope EXE PID` after debug, -core=CORE.
func TestGdbCommandLine(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	var debian testenv.Interp
	for _, in := range testenv.Interpreters(t) {
		if in.Name == "debian-3.11" {
			debian = in
		}
	}
	tg := testenv.StartTarget(t, debian, "shapes.py")
	pid := strconv.Itoa(tg.PID)
	for _, args := range [][]string{
		{"-p", pid, "-batch", "-ex", "py-bt"},
		{"-batch", "-ex", "py-bt", "-pid=" + pid},
		{"debug", debian.Path, pid, "--batch", "-ex", "py-bt"},
	} {
		r := runPyscope(t, bin, nil, args...)
		if r.code != 0 {
			t.Errorf("pyscope %q: exit %d: %s", args, r.code, r.stderr)
			continue
		}
		checkPyBt(t, r.stdout, &tg.Oracle)
	}
	core := filepath.Join(t.TempDir(), "shapes.core")
	gcore(t, bin, tg.PID, core)
	r := runPyscope(t, bin, nil, "-batch", "-ex", "py-bt", "-core="+core)
	if r.code != 0 {
		t.Fatalf("pyscope -core=CORE: exit %d: %s", r.code, r.stderr)
	}
	checkPyBt(t, r.stdout, &tg.Oracle)
	// Not gdb's: other command lines are pyscope's own.
	if r := runPyscope(t, bin, nil, "nosuchcommand"); r.code == 0 || !strings.Contains(r.stderr, "unknown command") {
		t.Errorf("pyscope nosuchcommand: exit %d, %q", r.code, r.stderr)
	}
}
