package repl

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"pyscope/internal/cpython"
)

// Expr is what py-print accepts: a name followed by attribute, index and
// key accesses, e.g. self.queue[0].priority, d["key"], items[-1]. Nothing
// is ever evaluated in the target: each step is a read.
type Expr struct {
	Name string
	Ops  []Op
}

// OpKind is the kind of one access step.
type OpKind int

const (
	OpAttr OpKind = iota // .name
	OpItem               // [key]
)

// Op is one access step.
type Op struct {
	Kind OpKind
	Attr string      // OpAttr
	Key  cpython.Key // OpItem
}

// String writes the expression back in Python syntax.
func (e Expr) String() string {
	var b strings.Builder
	b.WriteString(e.Name)
	for _, op := range e.Ops {
		if op.Kind == OpAttr {
			b.WriteString("." + op.Attr)
		} else {
			b.WriteString("[" + op.Key.String() + "]")
		}
	}
	return b.String()
}

// maxExprLen and maxExprOps bound the parser's work on pasted garbage.
const (
	maxExprLen = 4096
	maxExprOps = 256
)

// ParseExpr parses a py-print expression.
func ParseExpr(s string) (Expr, error) {
	if len(s) > maxExprLen {
		return Expr{}, fmt.Errorf("expression longer than %d bytes", maxExprLen)
	}
	p := &parser{s: s}
	p.space()
	name, err := p.ident()
	if err != nil {
		return Expr{}, err
	}
	e := Expr{Name: name}
	for {
		p.space()
		if p.eof() {
			// The printed form escapes key bytes (up to 4× longer): keep
			// it parseable too, so what is shown can be pasted back.
			if len(e.String()) > maxExprLen {
				return Expr{}, fmt.Errorf("expression longer than %d bytes once its keys are escaped", maxExprLen)
			}
			return e, nil
		}
		if len(e.Ops) >= maxExprOps {
			return Expr{}, fmt.Errorf("more than %d accesses", maxExprOps)
		}
		switch p.peek() {
		case '.':
			p.i++
			p.space()
			a, err := p.ident()
			if err != nil {
				return Expr{}, err
			}
			e.Ops = append(e.Ops, Op{Kind: OpAttr, Attr: a})
		case '[':
			p.i++
			p.space()
			k, err := p.key()
			if err != nil {
				return Expr{}, err
			}
			p.space()
			if p.eof() || p.peek() != ']' {
				return Expr{}, p.errf("expected ']'")
			}
			p.i++
			e.Ops = append(e.Ops, Op{Kind: OpItem, Key: k})
		case '(':
			return Expr{}, p.errf("calls are not supported: pyscope only reads memory, it never runs code in the target")
		default:
			return Expr{}, p.errf("expected '.', '[' or the end")
		}
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) eof() bool  { return p.i >= len(p.s) }
func (p *parser) peek() byte { return p.s[p.i] }

func (p *parser) errf(format string, a ...any) error {
	return fmt.Errorf("at column %d: %s", p.i+1, fmt.Sprintf(format, a...))
}

func (p *parser) space() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// ident reads a Python identifier (letters, digits, '_'; not starting
// with a digit; non-ASCII letters allowed).
func (p *parser) ident() (string, error) {
	start := p.i
	for !p.eof() {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		ok := r == '_' || unicode.IsLetter(r) || (p.i > start && unicode.IsDigit(r))
		if !ok || r == utf8.RuneError {
			break
		}
		p.i += n
	}
	if p.i == start {
		if p.eof() {
			return "", p.errf("expected a name")
		}
		return "", p.errf("expected a name, found %q", p.s[p.i:min(len(p.s), p.i+10)])
	}
	return p.s[start:p.i], nil
}

func (p *parser) key() (cpython.Key, error) {
	if p.eof() {
		return cpython.Key{}, p.errf("expected a subscript")
	}
	c := p.peek()
	switch {
	case c == '"' || c == '\'':
		s, err := p.str(false)
		return cpython.Key{Kind: cpython.KeyStr, Str: s}, err
	case (c == 'b' || c == 'B') && p.i+1 < len(p.s) && (p.s[p.i+1] == '"' || p.s[p.i+1] == '\''):
		p.i++
		s, err := p.str(true)
		return cpython.Key{Kind: cpython.KeyBytes, Str: s}, err
	case c == '-' || c == '+' || (c >= '0' && c <= '9'):
		return p.int()
	}
	id, err := p.ident()
	if err != nil {
		return cpython.Key{}, err
	}
	switch id {
	case "None":
		return cpython.Key{Kind: cpython.KeyNone}, nil
	case "True", "False":
		return cpython.Key{Kind: cpython.KeyBool, Bool: id == "True"}, nil
	}
	return cpython.Key{}, fmt.Errorf("subscripts must be literals (an int, a string, None, True or False), not the name %q", id)
}

func (p *parser) int() (cpython.Key, error) {
	start := p.i
	neg := false
	if c := p.peek(); c == '-' || c == '+' {
		neg = c == '-'
		p.i++
		p.space()
	}
	ds := p.i
	for !p.eof() && (isAlnum(p.peek()) || p.peek() == '_') {
		p.i++
	}
	digits := p.s[ds:p.i]
	if digits == "" {
		p.i = start
		return cpython.Key{}, p.errf("expected a number")
	}
	v, err := strconv.ParseInt(digits, 0, 64)
	if err != nil {
		p.i = start
		return cpython.Key{}, p.errf("bad integer %q", digits)
	}
	if neg {
		v = -v
	}
	return cpython.Key{Kind: cpython.KeyInt, Int: v}, nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// str reads a quoted literal with Python's common escapes.
func (p *parser) str(bytesLit bool) (string, error) {
	q := p.peek()
	p.i++
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.errf("unterminated string")
		}
		c := p.peek()
		if c == q {
			p.i++
			return b.String(), nil
		}
		if c != '\\' {
			if bytesLit && c >= 0x80 {
				return "", p.errf("bytes can only contain ASCII characters")
			}
			b.WriteByte(c)
			p.i++
			continue
		}
		p.i++
		if p.eof() {
			return "", p.errf("unterminated string")
		}
		e := p.peek()
		p.i++
		switch e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if bytesLit && e != 'x' {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			if p.i+n > len(p.s) {
				return "", p.errf("truncated \\%c escape", e)
			}
			v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil {
				return "", p.errf("bad \\%c escape", e)
			}
			p.i += n
			if bytesLit {
				b.WriteByte(byte(v))
			} else {
				if v > unicode.MaxRune {
					return "", p.errf("bad \\%c escape", e)
				}
				b.WriteRune(rune(v))
			}
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
}
