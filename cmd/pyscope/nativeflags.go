package main

import (
	"github.com/spf13/cobra"

	"pyscope/internal/model"
	"pyscope/internal/native"
	"pyscope/internal/symbolize"
	"pyscope/internal/target"
)

// nativeFlags select native (C) stacks in a dump.
type nativeFlags struct {
	native, all bool
	debugDirs   []string
	debuginfod  bool
}

func (n *nativeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&n.native, "native", false, "merge native (C) frames into the Python stacks, list threads without Python state, and show what each thread is doing")
	fl.BoolVar(&n.all, "native-all", false, "like --native, also showing the interpreter's own C frames")
	fl.StringArrayVar(&n.debugDirs, "debug-dir", nil, "directory of separate debug files, searched by build-id and debuglink (repeatable; default /usr/lib/debug)")
	fl.BoolVar(&n.debuginfod, "debuginfod", false, "download missing debug files from the servers in DEBUGINFOD_URLS (cached)")
}

// options returns nil when native stacks are off.
func (n *nativeFlags) options() *native.Options {
	if !n.native && !n.all {
		return nil
	}
	return &native.Options{All: n.all, Symbols: symbolize.Options{DebugDirs: n.debugDirs, Debuginfod: n.debuginfod}}
}

// nativeHook runs the native stages of a snapshot around the stop; every
// method is a no-op when native stacks are off.
type nativeHook struct {
	s *native.Session
	c *native.Capture
}

func newNativeHook(probe target.Target, opts *native.Options) *nativeHook {
	h := &nativeHook{}
	if opts != nil {
		h.s = native.New(probe, *opts)
		h.s.Prepare()
	}
	return h
}

// capture runs while the target is stopped.
func (h *nativeHook) capture(t target.Target) {
	if h.s != nil {
		h.c = h.s.Capture(t)
	}
}

// apply runs after the target resumed.
func (h *nativeHook) apply(snap *model.Snapshot) {
	if h.s != nil && h.c != nil {
		h.s.Apply(snap, h.c)
	}
}

func (h *nativeHook) close() {
	if h.s != nil {
		h.s.Close()
	}
}
