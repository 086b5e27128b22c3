package model

import "math/big"

// ValueKind says how a Value was decoded, and so which of its fields are set.
type ValueKind uint8

const (
	ValueObject    ValueKind = iota // anything else: Type and Addr only
	ValueNone                       // None
	ValueBool                       // Bool
	ValueInt                        // Int (also int subclasses)
	ValueFloat                      // Float
	ValueComplex                    // Float (real), Imag
	ValueStr                        // Runes, Len (also str subclasses)
	ValueBytes                      // Bytes, Len
	ValueByteArray                  // Bytes, Len
	ValueTuple                      // Items, Len
	ValueList                       // Items, Len
	ValueSet                        // Items, Len
	ValueFrozenSet                  // Items, Len
	ValueDict                       // Keys and Items (same length), Len
	ValueFunction                   // Name (the qualname)
	ValueClass                      // Name (the qualname), Module
	ValueModule                     // Name, Module (repr detail: from/origin), Origin
	ValueException                  // Items: the args tuple's items, Len
	ValueInstance                   // Attrs, Len (attributes in total)
	ValueCycle                      // a container already being shown: [...] {...}
	ValueElided                     // not decoded: depth or budget limit (Len items when known)
	ValueError                      // unreadable memory or an impossible object: Err
	ValueBuiltin                    // a builtin function or method: Name, Module (its self's type), Self
	ValueWeakref                    // a weakref: Items[0] its referent, none when dead
	ValueGenerator                  // a generator, coroutine or async generator: Name (its qualname)
	ValueFuture                     // an asyncio Future or Task: Future
	ValueRepr                       // an object whose repr() pyscope computes from its state (locks, events…): Name
	ValueRedacted                   // left out: held under a secret name, or in an environment (Type)
	ValueMethod                     // a bound method: Name (its function's qualname), Items[0] its __self__
)

// Value is one Python object as decoded from the target: a typed tree, so
// reprs, the session and JSON can all be derived from it. Containers hold
// at most the decoder's item limit; Len is the full count.
type Value struct {
	Kind  ValueKind
	Type  string // tp_name of the object's type
	Addr  uint64
	Bool  bool
	Int   *big.Int
	Float float64
	Imag  float64
	Runes []rune // str contents; may hold lone surrogates
	Bytes []byte
	// Hidden are the parts of Runes or Bytes left out, [from, to) in
	// order: secrets inside the text, as a query string's token or a
	// URL's password (internal/redact).
	Hidden [][2]int
	// Len is the full length: characters, bytes, items or attributes. It
	// exceeds the shown length when the decoder stopped early.
	Len   int
	Items []*Value
	Keys  []*Value
	Attrs []Attr
	// Name, Module and Origin describe functions, classes and modules.
	Name, Module, Origin string
	// Located: a module whose origin is a file (`from '…'`).
	Located bool
	// Self is the object a builtin method is bound to.
	Self uint64
	// Of is the kind of the object a ValueCycle or ValueElided stands for.
	Of  ValueKind
	Err string
	// Future describes an asyncio Future or Task.
	Future *FutureValue
}

// FutureValue is what asyncio's repr of a Future or Task shows.
type FutureValue struct {
	Class     string   // __class__.__name__
	State     string   // pending, cancelling, cancelled or finished
	Task      bool     // a Task: Name and Coro are set
	Name      string   // the task's name
	Coro      string   // "main() running at app.py:12", as asyncio formats it
	WaitFor   *Value   // the future a task waits for
	Result    *Value   // finished with a result
	Exception *Value   // finished with an exception
	Callbacks []string // as asyncio formats them: "Task.task_wakeup()"
}

// Attr is one instance attribute.
type Attr struct {
	Name  string
	Value *Value
}

// Local is one argument, local, cell or free variable of a frame, or one
// module global.
type Local struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "arg", "local", "cell", "free" or "global"
	Type string `json:"type"` // type name; "" when unbound
	Repr string `json:"repr"` // repr() within the limits; "<unbound>" when unbound
	// Unbound: the name has no value yet (or was deleted).
	Unbound bool   `json:"unbound,omitempty"`
	Value   *Value `json:"-"`

	// Redacted: the value is left out (Repr is "…(redacted)"): the name
	// says secret, or the value lives in an environment (internal/redact).
	Redacted bool `json:"redacted,omitempty"`
}
