package e2e

import (
	"strings"
	"testing"

	"pyscope/internal/testenv"
)

// TestDemo runs the README's first command on every interpreter: the
// bundled demo program's threads must show where each one waits.
func TestDemo(t *testing.T) {
	bin := testenv.BuildPyscope(t)
	for _, in := range testenv.Interpreters(t) {
		t.Run(in.Name, func(t *testing.T) {
			t.Parallel()
			r := runPyscope(t, bin, nil, "demo", "--python", in.Path)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, want := range []string{
				`"worker-0"`, "in Worker.serve_forever", "self.handle(jobs.get())",
				`"cache-refresh"`, "in refresh_cache", "with db_lock:",
				`"metrics"`, "in flush_metrics", "time.sleep(3600)",
				`"MainThread" [main, detached]`, "sys.stdin.read()",
			} {
				if in.Minor == "3.10" {
					want = strings.Replace(want, "in Worker.serve_forever", "in serve_forever", 1)
				}
				if !strings.Contains(r.stdout, want) {
					t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}
