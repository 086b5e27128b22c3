package repl

import (
	"errors"

	"pyscope/internal/model"
)

// Ref is a Python object in the target: its address.
type Ref uint64

// Var is a name bound in a frame's scope.
type Var struct {
	Name string
	Kind string // "arg", "local", "cell", "free", "global", "builtin"
	Ref  Ref    // 0 when the name is unbound
}

// Limits bound how much of a value is printed (and read).
type Limits struct {
	MaxItems int // container items shown
	MaxStr   int // characters of a str or bytes shown
	MaxDepth int // nesting of containers
	MaxLen   int // total characters of one repr
}

// DefaultLimits suit a terminal.
var DefaultLimits = Limits{MaxItems: 20, MaxStr: 200, MaxDepth: 4, MaxLen: 4000}

// Values reads Python objects of a stopped target. It is the seam where
// the object decoder plugs in; see NewObjectValues for the built-in one.
type Values interface {
	// Locals are the arguments and local, cell and free variables of a
	// frame of the current snapshot, in definition order.
	Locals(f model.Frame) ([]Var, error)
	// Globals are the module globals of the frame's function.
	Globals(f model.Frame) ([]Var, error)
	// Builtins are the builtins the frame sees.
	Builtins(f model.Frame) ([]Var, error)
	// Attr reads obj.name (instance dict, module dict, class dicts).
	Attr(obj Ref, name string) (Ref, error)
	// Item reads obj[key] (list, tuple, dict).
	Item(obj Ref, key Key) (Ref, error)
	// Repr is repr(obj), abbreviated to lim; abbreviations are marked.
	Repr(obj Ref, lim Limits) string
	// TypeName is type(obj).__name__.
	TypeName(obj Ref) string
}

// ErrRunning is returned for reads that need the target stopped.
var ErrRunning = errors.New("the target is running: use `interrupt` to stop it and take a new snapshot")
