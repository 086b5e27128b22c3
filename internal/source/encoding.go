package source

//go:generate go run ./gen

import (
	"bytes"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// A source file is text in the encoding its PEP 263 declaration names, as
// Python's linecache reads it (tokenize.detect_encoding): the code
// object's columns count UTF-8 bytes of the line so decoded. cookieRe and
// blankRe are tokenize's cookie_re and blank_re (\w is ASCII in both).
var (
	bomUTF8  = []byte{0xef, 0xbb, 0xbf}
	cookieRe = regexp.MustCompile(`^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)`)
	blankRe  = regexp.MustCompile(`^[ \t\f]*(?:[#\r\n]|$)`)
)

// DetectEncoding returns the encoding Python reads src with, named as
// tokenize.detect_encoding names it: "utf-8-sig" after a UTF-8 byte order
// mark, else the coding cookie of line 1, or of line 2 when line 1 is
// blank or a comment, normalized as _get_normal_name does ("latin-1" is
// "iso-8859-1"), else "utf-8". Where Python gives up with a SyntaxError it
// still answers: the byte order mark wins over a cookie naming another
// encoding, and an unknown codec's name is returned as it is.
func DetectEncoding(src []byte) string {
	def := "utf-8"
	if bytes.HasPrefix(src, bomUTF8) {
		src, def = src[len(bomUTF8):], "utf-8-sig"
	}
	first, rest := cutLine(src)
	if len(first) == 0 {
		return def
	}
	name := cookie(first)
	if name == "" && blankRe.Match(first) {
		second, _ := cutLine(rest)
		name = cookie(second)
	}
	switch {
	case name == "":
		return def
	case def == "utf-8-sig":
		return def // Python accepts only a utf-8 cookie after the mark
	}
	return name
}

// cutLine splits off the first line of src with its "\n", as a binary
// file's readline does.
func cutLine(src []byte) (line, rest []byte) {
	if i := bytes.IndexByte(src, '\n'); i >= 0 {
		return src[:i+1], src[i+1:]
	}
	return src, nil
}

// cookie returns the normalized encoding a line declares, or "".
func cookie(line []byte) string {
	m := cookieRe.FindSubmatch(line)
	if m == nil {
		return ""
	}
	return normalName(string(m[1]))
}

// normalName is tokenize._get_normal_name (get_normal_name in CPython's
// tokenizer): the spellings of UTF-8 and Latin-1 that the tokenizer
// recognises by itself.
func normalName(orig string) string {
	enc := orig
	if len(enc) > 12 {
		enc = enc[:12]
	}
	enc = strings.ReplaceAll(strings.ToLower(enc), "_", "-")
	if enc == "utf-8" || strings.HasPrefix(enc, "utf-8-") {
		return "utf-8"
	}
	for _, l := range []string{"latin-1", "iso-8859-1", "iso-latin-1"} {
		if enc == l || strings.HasPrefix(enc, l+"-") {
			return "iso-8859-1"
		}
	}
	return orig
}

// Decode returns the text of a Python source file: src without its byte
// order mark, decoded from the encoding DetectEncoding finds. A codec
// pyscope does not know leaves the bytes as they are (the text output
// escapes what is not UTF-8), and so do bytes a single-byte encoding does
// not define; multi-byte encodings put U+FFFD for invalid sequences.
func Decode(src []byte) string {
	name := DetectEncoding(src)
	src = bytes.TrimPrefix(src, bomUTF8)
	if dec := codecs[codecModule(name)]; dec != nil {
		return dec(src)
	}
	return string(src)
}

// A codec decodes a whole file; nil keeps its bytes (UTF-8, and ASCII,
// whose valid text is valid UTF-8).
type codec func([]byte) string

// codecs are the encodings module names of the codecs pyscope decodes,
// with the golang.org/x/text encoding that decodes them and the few
// characters where Python's codec differs from it.
// TestCodecsMatchPython checks each against every reference interpreter;
// the differences left are listed there. Only codecs that keep ASCII as it
// is: a cookie is found in ASCII bytes, so the stateful 7-bit ones
// (iso2022_jp, hz) fall back with the rest.
var codecs = map[string]codec{
	"utf_8": nil, "utf_8_sig": nil, "ascii": nil,

	"latin_1":      singleByte(charmap.ISO8859_1, nil),
	"iso8859_2":    singleByte(charmap.ISO8859_2, c1),
	"iso8859_3":    singleByte(charmap.ISO8859_3, c1),
	"iso8859_4":    singleByte(charmap.ISO8859_4, c1),
	"iso8859_5":    singleByte(charmap.ISO8859_5, c1),
	"iso8859_6":    singleByte(charmap.ISO8859_6, c1),
	"iso8859_7":    singleByte(charmap.ISO8859_7, c1),
	"iso8859_8":    singleByte(charmap.ISO8859_8, c1),
	"iso8859_9":    singleByte(charmap.ISO8859_9, c1),
	"iso8859_10":   singleByte(charmap.ISO8859_10, c1),
	"iso8859_13":   singleByte(charmap.ISO8859_13, c1),
	"iso8859_14":   singleByte(charmap.ISO8859_14, c1),
	"iso8859_15":   singleByte(charmap.ISO8859_15, c1),
	"iso8859_16":   singleByte(charmap.ISO8859_16, c1),
	"cp437":        singleByte(charmap.CodePage437, nil),
	"cp850":        singleByte(charmap.CodePage850, nil),
	"cp852":        singleByte(charmap.CodePage852, nil),
	"cp855":        singleByte(charmap.CodePage855, nil),
	"cp858":        singleByte(charmap.CodePage858, nil),
	"cp860":        singleByte(charmap.CodePage860, nil),
	"cp862":        singleByte(charmap.CodePage862, nil),
	"cp863":        singleByte(charmap.CodePage863, nil),
	"cp865":        singleByte(charmap.CodePage865, nil),
	"cp866":        singleByte(charmap.CodePage866, nil),
	"cp874":        singleByte(charmap.Windows874, nil),
	"cp1250":       singleByte(charmap.Windows1250, nil),
	"cp1251":       singleByte(charmap.Windows1251, nil),
	"cp1252":       singleByte(charmap.Windows1252, nil),
	"cp1253":       singleByte(charmap.Windows1253, nil),
	"cp1254":       singleByte(charmap.Windows1254, nil),
	"cp1255":       singleByte(charmap.Windows1255, nil),
	"cp1256":       singleByte(charmap.Windows1256, nil),
	"cp1257":       singleByte(charmap.Windows1257, nil),
	"cp1258":       singleByte(charmap.Windows1258, nil),
	"koi8_r":       singleByte(charmap.KOI8R, nil),
	"koi8_u":       singleByte(charmap.KOI8U, koi8u),
	"mac_roman":    singleByte(charmap.Macintosh, nil),
	"mac_cyrillic": singleByte(charmap.MacintoshCyrillic, nil),

	// x/text follows the WHATWG Encoding Standard, whose Japanese and
	// Chinese tables are Microsoft's (cp932, cp936).
	"shift_jis": multiByte(japanese.ShiftJIS, jis0208),
	"cp932":     multiByte(japanese.ShiftJIS, nil),
	"euc_jp":    multiByte(japanese.EUCJP, jis0208),
	"euc_kr":    multiByte(korean.EUCKR, nil),
	"cp949":     multiByte(korean.EUCKR, nil),
	"gb2312":    multiByte(simplifiedchinese.GBK, gb2312),
	"gbk":       multiByte(simplifiedchinese.GBK, nil),
	"gb18030":   multiByte(simplifiedchinese.GB18030, nil),
	"big5":      multiByte(traditionalchinese.Big5, big5),
	"cp950":     multiByte(traditionalchinese.Big5, cp950),
}

var (
	// c1: ISO 8859 puts the C1 controls at 0x80-0x9f, as Python does;
	// x/text leaves them undefined.
	c1 = func() map[byte]rune {
		m := map[byte]rune{}
		for b := 0x80; b < 0xa0; b++ {
			m[byte(b)] = rune(b)
		}
		return m
	}()
	// koi8u: x/text's KOI8-U is WHATWG's, which takes two box-drawing
	// characters of RFC 2319 for Belarusian letters.
	koi8u = map[byte]rune{0xae: '╝', 0xbe: '╬'}
	// jis0208: Python's shift_jis and euc_jp map these JIS X 0208
	// characters as JIS does, Microsoft to fullwidth or other forms.
	jis0208 = map[rune]rune{'￠': '¢', '￡': '£', '￢': '¬', '∥': '‖', '－': '−', '～': '〜'}
	// gb2312: Python's gb2312 is GB 2312's own mapping, not GBK's.
	gb2312 = map[rune]rune{'—': '―', '·': '・'}
	// big5, cp950: WHATWG's Big5 is Big5-HKSCS, with other glyphs for
	// these and other characters in rows 0xc6-0xc7 (see the test).
	big5 = map[rune]rune{'￠': '¢', '￡': '£', '￥': '¥', '‧': '•', '¯': '‾', '～': '∼',
		'⊙': '☉', '⊕': '♁', '∕': '／', '﹨': '＼', '﹑': '､'}
	cp950 = map[rune]rune{'￭': '▓'}
)

// singleByte decodes byte by byte, with some bytes mapped otherwise than
// by m; a byte left undefined stays as it is.
func singleByte(m *charmap.Charmap, over map[byte]rune) codec {
	return func(src []byte) string {
		out := make([]byte, 0, len(src)+len(src)/4)
		for _, c := range src {
			r, ok := over[c]
			switch {
			case c < utf8.RuneSelf:
				out = append(out, c)
			case ok:
				out = utf8.AppendRune(out, r)
			default:
				if r = m.DecodeByte(c); r != utf8.RuneError {
					out = utf8.AppendRune(out, r)
				} else {
					out = append(out, c)
				}
			}
		}
		return string(out)
	}
}

// multiByte decodes with e, then replaces the characters in subst.
func multiByte(e encoding.Encoding, subst map[rune]rune) codec {
	return func(src []byte) string {
		out, err := e.NewDecoder().Bytes(src)
		if err != nil {
			return string(src)
		}
		if subst == nil {
			return string(out)
		}
		return strings.Map(func(r rune) rune {
			if s, ok := subst[r]; ok {
				return s
			}
			return r
		}, string(out))
	}
}

// codecModule returns the encodings module of the codec name, found as
// codecs.lookup finds it (encodings.search_function: through the alias
// table, else the normalized name itself), if pyscope knows it; else "".
func codecModule(name string) string {
	norm := normalizeEncoding(strings.ToLower(name))
	alias := pythonAliases[norm]
	if alias == "" {
		alias = pythonAliases[strings.ReplaceAll(norm, ".", "_")]
	}
	for _, m := range []string{alias, norm} {
		if _, ok := codecs[m]; ok && m != "" && !strings.Contains(m, ".") {
			return m
		}
	}
	return ""
}

// normalizeEncoding is encodings.normalize_encoding for ASCII names (a
// cookie is ASCII): every run of characters other than letters, digits
// and dots becomes one underscore, none at either end.
func normalizeEncoding(s string) string {
	var b strings.Builder
	punct := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			if punct && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteByte(c)
			punct = false
		} else {
			punct = true
		}
	}
	return b.String()
}
