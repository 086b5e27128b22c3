package carets

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The little of Python's grammar the caret anchors need: the kind of an
// expression's root node (a binary operation, a call, a subscript, or
// anything else) and the source spans of its parts, as ast.parse would
// report them. Brackets are matched, not parsed inside. Source text comes
// from the target's files: every loop is bounded by the input's length and
// a malformed expression is simply "other".

type tokKind uint8

const (
	tName tokKind = iota
	tNumber
	tString
	tOp
	tOpen
	tClose
)

type token struct {
	kind       tokKind
	text       string
	start, end int // byte offsets
	match      int // tOpen/tClose: index of the matching bracket
}

// maxTokens bounds the work on one expression (a source line is short; a
// multi-line call may be long but not this long).
const maxTokens = 1 << 14

// tokenize splits Python source into tokens, skipping whitespace, newlines,
// comments and line continuations. ok is false for text Python would not
// tokenize (unterminated strings, unbalanced brackets).
func tokenize(src string) ([]token, bool) {
	var toks []token
	var stack []int
	i := 0
	for i < len(src) {
		if len(toks) > maxTokens {
			return nil, false
		}
		r, size := utf8.DecodeRuneInString(src[i:])
		switch {
		case r == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case r == '\\' && i+1 < len(src) && (src[i+1] == '\n' || src[i+1] == '\r'):
			i += 2
			continue
		case unicode.IsSpace(r):
			i += size
			continue
		}
		start := i
		switch {
		case isStringStart(src[i:]):
			end, ok := scanString(src, i)
			if !ok {
				return nil, false
			}
			toks = append(toks, token{kind: tString, text: src[start:end], start: start, end: end})
			i = end
		case r == '_' || unicode.IsLetter(r) || r > utf8.RuneSelf && unicode.In(r, unicode.Other_ID_Start):
			for i < len(src) {
				r, size := utf8.DecodeRuneInString(src[i:])
				if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.In(r, unicode.Mn, unicode.Mc, unicode.Nd, unicode.Pc, unicode.Other_ID_Continue) {
					break
				}
				i += size
			}
			toks = append(toks, token{kind: tName, text: src[start:i], start: start, end: i})
		case r >= '0' && r <= '9' || r == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			i = scanNumber(src, i)
			toks = append(toks, token{kind: tNumber, text: src[start:i], start: start, end: i})
		case strings.ContainsRune("([{", r):
			stack = append(stack, len(toks))
			toks = append(toks, token{kind: tOpen, text: string(r), start: i, end: i + 1})
			i++
		case strings.ContainsRune(")]}", r):
			if len(stack) == 0 || closer(toks[stack[len(stack)-1]].text) != string(r) {
				return nil, false
			}
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			toks[o].match = len(toks)
			toks = append(toks, token{kind: tClose, text: string(r), start: i, end: i + 1, match: o})
			i++
		default:
			op := operator(src[i:])
			if op == "" {
				return nil, false
			}
			toks = append(toks, token{kind: tOp, text: op, start: i, end: i + len(op)})
			i += len(op)
		}
	}
	return toks, len(stack) == 0
}

func closer(open string) string {
	return map[string]string{"(": ")", "[": "]", "{": "}"}[open]
}

var operators = []string{
	"**=", "//=", ">>=", "<<=", "...", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=", ":=",
	"<<", "<=", "==", ">=", ">>", "@=", "^=", "|=", "!", "%", "&", "*", "+", ",", "-", ".", "/", ":",
	";", "<", "=", ">", "@", "^", "|", "~",
}

func operator(s string) string {
	for _, op := range operators {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	return ""
}

// isStringStart: a quote, or a string prefix (r, b, u, f, t, in either
// case, up to two letters) followed by one.
func isStringStart(s string) bool {
	for n := 0; n <= 2 && n < len(s); n++ {
		if s[n] == '\'' || s[n] == '"' {
			return true
		}
		if !strings.ContainsRune("rRbBuUfFtT", rune(s[n])) {
			return false
		}
	}
	return false
}

// scanString returns the end of the string literal at i. In f- and
// t-strings, a replacement field may hold strings with the same quotes
// (3.12+); they are skipped whole.
func scanString(src string, i int) (int, bool) {
	prefix := ""
	for src[i] != '\'' && src[i] != '"' {
		prefix += strings.ToLower(string(src[i]))
		i++
	}
	format := strings.ContainsAny(prefix, "ft")
	q := src[i : i+1]
	if strings.HasPrefix(src[i:], q+q+q) {
		q = q + q + q
	}
	i += len(q)
	depth := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\\': // even in a raw string, \" does not end it
			i += 2
			continue
		case format && c == '{':
			if depth == 0 && i+1 < len(src) && src[i+1] == '{' {
				i += 2
				continue
			}
			depth++
		case format && c == '}' && depth > 0:
			depth--
		case format && depth > 0 && isStringStart(src[i:]) && (c == '\'' || c == '"' || !isNameByte(src[i-1])):
			end, ok := scanString(src, i)
			if !ok {
				return 0, false
			}
			i = end
			continue
		case strings.HasPrefix(src[i:], q) && depth == 0:
			return i + len(q), true
		case c == '\n' && len(q) == 1 && depth == 0:
			return 0, false
		}
		i++
	}
	return 0, false
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= utf8.RuneSelf
}

func scanNumber(src string, i int) int {
	for i < len(src) {
		c := src[i]
		switch {
		case c >= '0' && c <= '9', c == '.', c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			i++
			if (c == 'e' || c == 'E') && i < len(src) && (src[i] == '+' || src[i] == '-') && !strings.ContainsAny(src[:i], "xX") {
				i++
			}
		default:
			return i
		}
	}
	return i
}

// nodeKind is what matters of an expression's root for the anchors.
type nodeKind uint8

const (
	other nodeKind = iota
	binOp
	call
	subscript
)

// span is a node's source span, in bytes, as ast reports it (a
// parenthesized expression's node excludes the parentheses).
type span struct{ start, end int }

type node struct {
	kind nodeKind
	span
	left, right span // binOp: the operands
	trailer     int  // call, subscript: byte offset of the ( or [
	callee      span // call: the function; subscript: the value
	calleeName  bool // call: the function is a plain name
}

// Binary operator precedence, lowest first; ** binds tighter than unary
// operators on its left.
var binLevel = map[string]int{
	"|": 1, "^": 2, "&": 3, "<<": 4, ">>": 4, "+": 5, "-": 5,
	"*": 6, "@": 6, "/": 6, "//": 6, "%": 6, "**": 8,
}

// lowPrecedence are tokens that, at an expression's top level, make its
// root something other than a binary operation, call or subscript.
var lowPrecedence = map[string]bool{
	"lambda": true, "if": true, "else": true, "or": true, "and": true, "not": true,
	"in": true, "is": true, "for": true, "async": true, "yield": true, "from": true,
	"<": true, ">": true, "==": true, ">=": true, "<=": true, "!=": true, ":=": true,
	",": true, ":": true, "=": true, ";": true, "!": true, "->": true,
	"+=": true, "-=": true, "*=": true, "/=": true, "//=": true, "%=": true, "@=": true,
	"&=": true, "|=": true, "^=": true, ">>=": true, "<<=": true, "**=": true,
}

// keywordOperands are keywords that are values.
var keywordOperands = map[string]bool{"None": true, "True": true, "False": true, "__debug__": true}

var keywords = map[string]bool{
	"and": true, "as": true, "assert": true, "async": true, "await": true, "break": true, "class": true,
	"continue": true, "def": true, "del": true, "elif": true, "else": true, "except": true, "finally": true,
	"for": true, "from": true, "global": true, "if": true, "import": true, "in": true, "is": true,
	"lambda": true, "nonlocal": true, "not": true, "or": true, "pass": true, "raise": true, "return": true,
	"try": true, "while": true, "with": true, "yield": true,
}

// parseExpr analyses src as one expression. ok is false when it does not
// tokenize or is empty.
func parseExpr(src string) (node, bool) {
	toks, ok := tokenize(src)
	if !ok || len(toks) == 0 {
		return node{}, false
	}
	return analyse(toks, 0, len(toks)), true
}

// isWrapped reports whether toks[lo:hi] is one parenthesized expression
// whose node excludes the parentheses (not a tuple, a generator
// expression or ()).
func isWrapped(toks []token, lo, hi int) bool {
	if hi-lo < 3 || toks[lo].text != "(" || toks[lo].match != hi-1 {
		return false
	}
	for i := lo + 1; i < hi-1; i++ {
		t := toks[i]
		if t.kind == tOpen {
			i = t.match
			continue
		}
		if t.text == "," || t.kind == tName && (t.text == "for" || t.text == "yield") {
			return false
		}
	}
	return true
}

// nodeSpan is the ast span of the expression toks[lo:hi].
func nodeSpan(toks []token, lo, hi int) span {
	for isWrapped(toks, lo, hi) {
		lo, hi = lo+1, hi-1
	}
	return span{toks[lo].start, toks[hi-1].end}
}

// operandEnd reports whether t ends an operand, so that a following + or -
// is binary.
func operandEnd(t token) bool {
	switch t.kind {
	case tNumber, tString, tClose:
		return true
	case tName:
		return !keywords[t.text] || keywordOperands[t.text]
	}
	return t.text == "..."
}

// operandStart reports whether t starts an operand (an opening bracket
// after an operand is a call or subscript instead).
func operandStart(t token) bool {
	switch t.kind {
	case tNumber, tString:
		return true
	case tName:
		return !keywords[t.text] || keywordOperands[t.text]
	}
	return false
}

func analyse(toks []token, lo, hi int) node {
	for isWrapped(toks, lo, hi) {
		lo, hi = lo+1, hi-1
	}
	n := node{span: span{toks[lo].start, toks[hi-1].end}}
	// Top-level binary operators (brackets are skipped whole).
	type op struct {
		i, level int
	}
	var ops []op
	for i := lo; i < hi; i++ {
		t := toks[i]
		if t.kind == tOpen {
			i = t.match
			continue
		}
		if lowPrecedence[t.text] && (t.kind == tOp || t.kind == tName) ||
			t.kind == tName && keywords[t.text] && t.text != "await" {
			return n // a statement, or an expression rooted lower
		}
		if i > lo && operandEnd(toks[i-1]) && operandStart(t) && !(t.kind == tString && toks[i-1].kind == tString) {
			return n // two operands in a row: not Python (ast.parse fails)
		}
		if lvl, isOp := binLevel[t.text]; isOp && t.kind == tOp && i > lo && operandEnd(toks[i-1]) {
			ops = append(ops, op{i, lvl})
		}
	}
	startsUnary := toks[lo].text == "+" || toks[lo].text == "-" || toks[lo].text == "~" || toks[lo].text == "await" ||
		toks[lo].text == "*" || toks[lo].text == "**"
	if len(ops) > 0 {
		low := ops[0].level
		for _, o := range ops {
			low = min(low, o.level)
		}
		root := -1
		for _, o := range ops {
			if o.level == low && (root < 0 || low != 8) {
				root = o.i // rightmost, or for ** (right-associative) the leftmost
			}
		}
		if low == 8 && startsUnary && toks[lo].text != "await" {
			return n // -a ** b is -(a ** b)
		}
		if root == lo || root == hi-1 {
			return n
		}
		n.kind = binOp
		n.left, n.right = nodeSpan(toks, lo, root), nodeSpan(toks, root+1, hi)
		return n
	}
	if startsUnary {
		return n
	}
	last := toks[hi-1]
	if last.kind != tClose || last.match == lo || last.text == "}" {
		return n
	}
	if !operandEnd(toks[last.match-1]) {
		return n
	}
	n.trailer = toks[last.match].start
	n.callee = nodeSpan(toks, lo, last.match)
	if last.text == ")" {
		n.kind = call
		clo, chi := lo, last.match
		for isWrapped(toks, clo, chi) {
			clo, chi = clo+1, chi-1
		}
		n.calleeName = chi == clo+1 && toks[clo].kind == tName && !keywords[toks[clo].text]
	} else {
		n.kind = subscript
	}
	return n
}
