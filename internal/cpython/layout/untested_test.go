package layout

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"pyscope/internal/pybuilds"
)

// interpreterVersion asks a real interpreter its version and whether it is
// free-threaded.
func interpreterVersion(t *testing.T, python string) (string, bool) {
	t.Helper()
	out, err := exec.Command(python, "-c", `import sys, sysconfig; print(sys.version.split()[0], bool(sysconfig.get_config_var("Py_GIL_DISABLED")))`).Output()
	if err != nil {
		t.Fatalf("%s: %v", python, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Fatalf("%s printed %q", python, out)
	}
	return f[0], f[1] == "True"
}

// TestUntested: the free-threaded 3.13t the suite runs is read without a
// warning, while a free-threaded build of the newest tested version (3.14t,
// which cannot be had here) is said to be untested; its GIL build is not.
func TestUntested(t *testing.T) {
	ft, err := pybuilds.GetFreeThreaded(os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	v, free := interpreterVersion(t, ft.Python)
	if !free || !strings.HasPrefix(v, "3.13.") {
		t.Fatalf("%s is %s, free-threaded %v: not a 3.13t", ft.Python, v, free)
	}
	if msg := Untested(v, true); msg != "" {
		t.Errorf("Untested(%s, free-threaded) = %q, want silence: the suite runs it", v, msg)
	}

	newest, err := pybuilds.Get(NewestTested)
	if err != nil {
		t.Fatal(err)
	}
	v, free = interpreterVersion(t, newest.Python)
	if free || !strings.HasPrefix(v, NewestTested+".") {
		t.Fatalf("%s is %s, free-threaded %v: not a %s GIL build", newest.Python, v, free, NewestTested)
	}
	if msg := Untested(v, false); msg != "" {
		t.Errorf("Untested(%s) = %q, want silence: the suite runs it", v, msg)
	}
	msg := Untested(v, true)
	for _, want := range []string{"free-threaded Python " + v, "untested", "3.13"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Untested(%s, free-threaded) = %q, want it to say %q", v, msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("Untested(%s, free-threaded) is more than one line: %q", v, msg)
	}
}
