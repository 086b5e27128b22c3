package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"pyscope/internal/engine"
	"pyscope/internal/symbolize"
)

// nativeFlags select native (C) stacks in a dump.
type nativeFlags struct {
	native, all bool
}

func (n *nativeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&n.native, "native", false, "merge native (C) frames into the Python stacks, list threads without Python state, and show what each thread is doing (stops every thread: their registers are needed)")
	fl.BoolVar(&n.all, "native-all", false, "like --native, also showing the interpreter's own C frames")
}

// symbolFlags say where native debug files are (dump --native, debug's bt).
type symbolFlags struct {
	debugDirs  []string
	debuginfod bool
}

func (s *symbolFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&s.debugDirs, "debug-dir", nil, "directory of separate debug files, searched by build-id and debuglink (repeatable; default /usr/lib/debug)")
	fl.BoolVar(&s.debuginfod, "debuginfod", false, "download missing debug files from the servers in DEBUGINFOD_URLS (cached)")
}

func (s *symbolFlags) options() symbolize.Options {
	return symbolize.Options{DebugDirs: s.debugDirs, Debuginfod: s.debuginfod}
}

// coreFlags say where the files of a core's process are.
type coreFlags struct {
	sysroot  string
	libPaths []string
}

func (c *coreFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&c.sysroot, "sysroot", "", "for a core: root of a copy of the machine or container it came from (its files are looked up there first)")
	fl.StringArrayVar(&c.libPaths, "lib-path", nil, "for a core: directory to search mapped files in by name (repeatable)")
}

// apply sets the core and symbol options of the engine.
func (c *coreFlags) apply(o *engine.Options, s symbolFlags) {
	o.Sysroot, o.LibPaths = c.sysroot, c.libPaths
	o.Symbols = s.options()
}

// oneArg accepts exactly one argument and otherwise prints the usage line
// with the error.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 1:
			return nil
		case len(args) == 0:
			return fmt.Errorf("missing %s; usage: %s (pyscope %s --help says more)", what, cmd.UseLine(), cmd.Name())
		}
		return fmt.Errorf("%d arguments given, one %s expected; usage: %s (pyscope %s --help says more)", len(args), what, cmd.UseLine(), cmd.Name())
	}
}
