package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"pyscope/internal/cpython"
	"pyscope/internal/redact"
)

// redactFlags say which values are left out of the output.
type redactFlags struct {
	off  bool
	keys []string
}

func (r *redactFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&r.off, "no-redact", false, "show every value: by default values held under secret-looking names (password, token, api_key, cookie, session, ... Sentry's list) the values of environments (os.environ, a WSGI environ, Django's request.META) and secrets inside texts (a query string's token, a URL's password) are shown as …(redacted)")
	fl.StringSliceVar(&r.keys, "redact-keys", nil, "more names whose values are left out (comma-separated; matched as whole words, like the defaults)")
}

func (r *redactFlags) policy() (*redact.Policy, error) {
	if r.off && len(r.keys) > 0 {
		return nil, errors.New("--no-redact and --redact-keys contradict each other: give one")
	}
	if r.off {
		return redact.None(), nil
	}
	if len(r.keys) > 0 {
		return redact.Default().With(r.keys), nil
	}
	return nil, nil
}

// valueFlags are the flags that show frame variables and bound their reprs.
// A limit of 0 means the default for the output: terminal-sized for text,
// larger for --json.
type valueFlags struct {
	locals, globals, stdlibGlobals         bool
	maxString, maxItems, maxDepth, maxRepr int
}

func (v *valueFlags) register(cmd *cobra.Command) {
	t, j := cpython.TerminalLimits(), cpython.JSONLimits()
	fl := cmd.Flags()
	fl.BoolVar(&v.locals, "locals", false, "show the arguments and local variables of every frame")
	fl.BoolVar(&v.globals, "globals", false, "show the user globals of every frame's module (no modules, no __dunder__ names; not those of standard-library modules)")
	fl.BoolVar(&v.stdlibGlobals, "stdlib-globals", false, "with --globals, show the globals of standard-library modules too")
	fl.IntVar(&v.maxString, "max-string", 0, fmtLimit("characters of a string (digits of an int) shown", t.MaxString, j.MaxString))
	fl.IntVar(&v.maxItems, "max-items", 0, fmtLimit("items of a container shown", t.MaxItems, j.MaxItems))
	fl.IntVar(&v.maxDepth, "max-depth", 0, fmtLimit("nesting depth of containers shown", t.MaxDepth, j.MaxDepth))
	fl.IntVar(&v.maxRepr, "max-repr", 0, fmtLimit("characters of one value's repr", t.MaxRepr, j.MaxRepr))
}

func fmtLimit(what string, text, json int) string {
	return fmt.Sprintf("%s (default %d, %d with --json)", what, text, json)
}

// options returns nil when no variables are wanted.
func (v *valueFlags) options(json bool) *cpython.ValueOptions {
	v.globals = v.globals || v.stdlibGlobals
	if !v.locals && !v.globals {
		return nil
	}
	lim := cpython.TerminalLimits()
	if json {
		lim = cpython.JSONLimits()
	}
	set := func(dst *int, val int) {
		if val > 0 {
			*dst = val
		}
	}
	set(&lim.MaxString, v.maxString)
	set(&lim.MaxItems, v.maxItems)
	set(&lim.MaxDepth, v.maxDepth)
	set(&lim.MaxRepr, v.maxRepr)
	return &cpython.ValueOptions{Locals: v.locals, Globals: v.globals, StdlibGlobals: v.stdlibGlobals, Limits: lim.Budgeted()}
}
