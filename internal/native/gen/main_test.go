package main

import (
	"bytes"
	"os"
	"testing"
)

// TestSyscallsUpToDate fails when syscalls_gen.go is not what the
// generator writes from the x/sys version go.mod pins (edited by hand, or
// x/sys was upgraded without `go generate`).
func TestSyscallsUpToDate(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../syscalls_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("internal/native/syscalls_gen.go is stale: run `go generate ./internal/native`")
	}
}
