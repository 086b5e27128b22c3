package gcore_test

import (
	"path/filepath"
	"testing"
	"time"

	"pyscope/internal/gcore"
	"pyscope/internal/testenv"
)

func TestZZRepro(t *testing.T) {
	var in testenv.Interp
	for _, i := range testenv.Interpreters(t) {
		if i.Minor == "3.10" {
			in = i
		}
	}
	tg := testenv.StartTarget(t, in, "demo.py")
	for i := 0; i < 60; i++ {
		st, err := gcore.Dump(tg.PID, filepath.Join(t.TempDir(), "core"), gcore.Options{Warn: func(s string) { t.Log(s) }})
		t.Logf("round %d: %+v err %v exited=%v", i, st, err, tg.Exited())
		time.Sleep(1000 * time.Millisecond)
		if err := testenv.NotStopped(tg.PID); err != nil {
			t.Fatal(err)
		}
	}
}
