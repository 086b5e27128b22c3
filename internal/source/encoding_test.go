package source

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"pyscope/internal/pybuilds"
)

const bom = "\xef\xbb\xbf"

// detectCases are CPython's own cases for tokenize.detect_encoding
// (Lib/test/test_tokenize.py, TestDetectEncoding) and for the compiler
// (Lib/test/test_source_encoding.py), with the encoding Python finds.
// Where Python raises SyntaxError (noted), want is pyscope's answer: it
// still shows the source (the byte order mark wins; an unknown codec's
// name is returned and the bytes are left as they are).
var detectCases = []struct{ name, src, want string }{
	{"no_bom_no_encoding_cookie", "# something\nprint(something)\ndo_something(else)\n", "utf-8"},
	{"bom_no_cookie", bom + "# something\nprint(something)\ndo_something(else)\n", "utf-8-sig"},
	{"cookie_first_line_no_bom", "# -*- coding: latin-1 -*-\nprint(something)\ndo_something(else)\n", "iso-8859-1"},
	{"matched_bom_and_cookie_first_line", bom + "# coding=utf-8\nprint(something)\ndo_something(else)\n", "utf-8-sig"},
	{"mismatched_bom_and_cookie_first_line (SyntaxError)", bom + "# vim: set fileencoding=ascii :\nprint(something)\n", "utf-8-sig"},
	{"cookie_second_line_no_bom", "#! something\n# vim: set fileencoding=ascii :\nprint(something)\n", "ascii"},
	{"matched_bom_and_cookie_second_line", bom + "#! something\nf# coding=utf-8\nprint(something)\n", "utf-8-sig"},
	{"mismatched_bom_and_cookie_second_line (SyntaxError)", bom + "#! something\n# vim: set fileencoding=ascii :\nprint(something)\n", "utf-8-sig"},
	{"cookie_second_line_noncommented_first_line", "print('\xc2\xa3')\n# vim: set fileencoding=iso8859-15 :\nprint('\xe2\x82\xac')\n", "utf-8"},
	{"cookie_second_line_commented_first_line", "#print('\xc2\xa3')\n# vim: set fileencoding=iso8859-15 :\nprint('\xe2\x82\xac')\n", "iso8859-15"},
	{"cookie_second_line_empty_first_line", "\n# vim: set fileencoding=iso8859-15 :\nprint('\xe2\x82\xac')\n", "iso8859-15"},
	{"latin1_normalization latin-1", "#!/usr/bin/python\n# coding: latin-1\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization latin_1", "#!/usr/bin/python\n# coding: latin_1\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization iso-8859-1", "#!/usr/bin/python\n# coding: iso-8859-1\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization iso_8859_1", "#!/usr/bin/python\n# coding: iso_8859_1\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization iso-latin-1", "#!/usr/bin/python\n# coding: iso-latin-1\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization iso_latin_1", "#!/usr/bin/python\n# coding: iso_latin_1\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization latin-1-unix", "#!/usr/bin/python\n# coding: latin-1-unix\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization latin_1_unix", "#!/usr/bin/python\n# coding: latin_1_unix\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization iso-8859-1-unix", "#!/usr/bin/python\n# coding: iso-8859-1-unix\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization iso_8859_1_unix", "#!/usr/bin/python\n# coding: iso_8859_1_unix\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization iso-latin-1-mac", "#!/usr/bin/python\n# coding: iso-latin-1-mac\nprint(things)\n", "iso-8859-1"},
	{"latin1_normalization iso_latin_1_mac", "#!/usr/bin/python\n# coding: iso_latin_1_mac\nprint(things)\n", "iso-8859-1"},
	{"syntaxerror_latin1 (SyntaxError)", "print(\"\xdf\")", "utf-8"},
	{"utf8_normalization utf-8", "#!/usr/bin/python\n# coding: utf-8\n1 + 3\n", "utf-8"},
	{"utf8_normalization utf_8", "#!/usr/bin/python\n# coding: utf_8\n1 + 3\n", "utf-8"},
	{"utf8_normalization utf-8-mac", "#!/usr/bin/python\n# coding: utf-8-mac\n1 + 3\n", "utf-8"},
	{"utf8_normalization utf_8_mac", "#!/usr/bin/python\n# coding: utf_8_mac\n1 + 3\n", "utf-8"},
	{"utf8_normalization utf-8-unix", "#!/usr/bin/python\n# coding: utf-8-unix\n1 + 3\n", "utf-8"},
	{"utf8_normalization utf_8_unix", "#!/usr/bin/python\n# coding: utf_8_unix\n1 + 3\n", "utf-8"},
	{"short_files one line", "print(something)\n", "utf-8"},
	{"short_files empty", "", "utf-8"},
	{"short_files bom and line", bom + "print(something)\n", "utf-8-sig"},
	{"short_files bom only", bom, "utf-8-sig"},
	{"short_files bad (SyntaxError)", "# coding: bad\n", "bad"},
	{"false_encoding", "print(\"#coding=fake\")", "utf-8"},
	// test_source_encoding.py
	{"compilestring", "\n# coding: utf-8\nu = '\xc3\xb3'\n", "utf-8"},
	{"issue2301", "# coding: cp932\nprint '\x94\x4e'", "cp932"},
	{"error_message", "# -*- coding: iso-8859-15 -*-\n", "iso-8859-15"},
	{"error_message bom", bom + "\n", "utf-8-sig"},
	{"error_message bom utf-8", bom + "# -*- coding: utf-8 -*-\n", "utf-8-sig"},
	{"error_message fake (SyntaxError)", "# -*- coding: fake -*-\n", "fake"},
	{"error_message bom iso-8859-15 (SyntaxError)", bom + "# -*- coding: iso-8859-15 -*-\n", "utf-8-sig"},
	{"exec_valid_coding", "# coding: cp949\na = \"\xaa\xa7\"\n", "cp949"},
	{"default_coding", "print(ascii(\"\xc3\xa4\"))\n", "utf-8"},
	{"first_coding_line", "#coding:iso8859-15\nprint(ascii(\"\xc3\xa4\"))\n", "iso8859-15"},
	{"second_coding_line", "#\n#coding:iso8859-15\nprint(ascii(\"\xc3\xa4\"))\n", "iso8859-15"},
	{"third_coding_line", "#\n#\n#coding:iso8859-15\nprint(ascii(\"\xc3\xa4\"))\n", "utf-8"},
	{"double_coding_line", "#coding:iso8859-15\n#coding:latin1\nprint(ascii(\"\xc3\xa4\"))\n", "iso8859-15"},
	{"double_coding_same_line", "#coding:iso8859-15 coding:latin1\nprint(ascii(\"\xc3\xa4\"))\n", "iso8859-15"},
	{"first_non_utf8_coding_line", "#coding:iso-8859-15 \xa4\nprint(ascii(\"\xc3\xa4\"))\n", "iso-8859-15"},
	{"second_non_utf8_coding_line", "\n#coding:iso-8859-15 \xa4\nprint(ascii(\"\xc3\xa4\"))\n", "iso-8859-15"},
	{"utf8_bom", bom + "print(ascii(\"\xc3\xa4\"))\n", "utf-8-sig"},
	{"utf8_bom_and_utf8_coding_line", bom + "#coding:utf-8\nprint(ascii(\"\xc3\xa4\"))\n", "utf-8-sig"},
	{"crcrcrlf2", "#coding:iso-8859-1\nprint(ascii(\"\"\"\r\r\r\n\"\"\"))\n", "iso-8859-1"},
}

// moreSources are checked against the interpreters' own detect_encoding
// only: how the expression, the two lines and the normalization meet.
var moreSources = []string{
	"\f# coding: latin-1\n",
	"  \t# coding=cp1252\n",
	"#!/usr/bin/env python\r\n# -*- coding: latin-1 -*-\r\nx = 1\r\n",
	"# coding:   shift_jis\n",
	"x = 1  # coding: latin-1\n",
	"#coding: !latin-1 coding: cp1252\n",
	"#\t\n# coding: koi8-r\n",
	"   \n# coding: koi8-r\n",
	"\r\n# coding: koi8-r\n",
	"\f\n# coding: euc-jp\n",
	"pass\n# coding: euc-jp\n",
	"# vim: set fileencoding=Latin-1 :\n",
	"# coding: UTF-8\n",
	"# coding: utf8\n",
	"# coding: Utf_8_Sig\n",
	"# coding: ISO-LATIN-1-Whatever\n",
	"# coding: latin-1x\n",
	"# coding: latin-1-\n",
	"# coding=windows-1252\n",
	"# coding: iso8859.15\n",
	"# coding: iso-8859-15.\n",
	"# coding:.cp1252\n",
	"# coding: --cp1252--\n",
	"# coding: sjis\n",
	"# coding: big5\n",
	"# coding: hz\n",
	"# coding: mac-roman\n",
	"# coding: utf-16\n",
	"# coding: rot13\n",
	"# coding\n# coding: latin-1\n",
	"# coding: latin-1",
	"#coding=\n",
	"\xef\xbb# coding: latin-1\n",
}

func TestDetectEncoding(t *testing.T) {
	for _, c := range detectCases {
		if got := DetectEncoding([]byte(c.src)); got != c.want {
			t.Errorf("%s: DetectEncoding(%q) = %q, want %q", c.name, c.src, got, c.want)
		}
	}
}

// TestDecode: the text of a declared file is its characters, without the
// byte order mark; bytes an encoding leaves undefined, and those of an
// unknown codec, stay as they are.
func TestDecode(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"# coding: latin-1\nx = '\xe9t\xe9'\n", "# coding: latin-1\nx = 'été'\n"},
		{"#!/usr/bin/python\n# -*- coding: cp1252 -*-\ns = '\x80\x93'\n", "#!/usr/bin/python\n# -*- coding: cp1252 -*-\ns = '€“'\n"},
		{"# coding: cp1252\ns = '\x81'\n", "# coding: cp1252\ns = '\x81'\n"},
		{"# coding: shift_jis\ns = '\x93\xfa\x96\x7b'\n", "# coding: shift_jis\ns = '日本'\n"},
		{bom + "x = 'é'\n", "x = 'é'\n"},
		{"# coding: fake\nx = '\xe9'\n", "# coding: fake\nx = '\xe9'\n"},
		{"x = '\xe9'\n", "x = '\xe9'\n"},
	} {
		if got := Decode([]byte(c.src)); got != c.want {
			t.Errorf("Decode(%q) = %q, want %q", c.src, got, c.want)
		}
	}
}

// TestCodecsMatchPython asks each reference interpreter how it names and
// decodes: every name pyscope resolves must be the codec Python resolves
// it to, every byte and BMP character Python decodes must decode the
// same, and detection must agree wherever Python does not give up.
func TestCodecsMatchPython(t *testing.T) {
	var names, single, multi []string
	for k := range pythonAliases {
		names = append(names, k)
	}
	for m, c := range codecs {
		names = append(names, m)
		if c == nil {
			continue
		}
		if isSingleByte(m) {
			single = append(single, m)
		} else {
			multi = append(multi, m)
		}
	}
	for _, s := range append(moreSources, detectSources()...) {
		if m := cookieRe.FindSubmatch([]byte(s)); m != nil {
			names = append(names, string(m[1]), normalName(string(m[1])))
		}
	}
	names = append(names, "Latin-1", "ISO_8859-15", "iso8859.15", "--latin--1--", "UTF8", "Shift-JIS", "x-mac-roman", "EUC_jp", "cp-1252", "")
	sort.Strings(single)
	sort.Strings(multi)
	var srcs []string
	for _, s := range append(moreSources, detectSources()...) {
		srcs = append(srcs, hex.EncodeToString([]byte(s)))
	}
	minors := pybuilds.Minors()
	for _, minor := range minors {
		// The codec tables have not changed in years: the newest build's
		// are checked, each build's names and detection.
		r := map[string][]string{"names": names, "single": {}, "multi": {}, "detect": srcs}
		if minor == minors[len(minors)-1] {
			r["single"], r["multi"] = single, multi
		}
		req, _ := json.Marshal(r)
		t.Run(minor, func(t *testing.T) {
			t.Parallel()
			b, err := pybuilds.Get(minor)
			if err != nil {
				t.Fatalf("provision Python %s: %v (run scripts/test.sh)", minor, err)
			}
			cmd := exec.Command(b.Python, "-I", "testdata/codecs.py")
			var stderr bytes.Buffer
			cmd.Stdin, cmd.Stderr = bytes.NewReader(req), &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("run %s: %v\n%s", b.Python, err, stderr.Bytes())
			}
			var py struct {
				Names   map[string]*string
				Single  map[string][]*string
				Multi   map[string][][2]any
				Detect  map[string]*string
				Aliases []string
			}
			if err := json.Unmarshal(out, &py); err != nil {
				t.Fatal(err)
			}
			for _, a := range py.Aliases {
				if _, ok := pythonAliases[a]; !ok {
					t.Errorf("alias %q is missing from aliases_gen.go: run go generate", a)
				}
			}
			checkNames(t, py.Names)
			checkSingle(t, py.Single)
			checkMulti(t, py.Multi)
			compared := 0
			for h, want := range py.Detect {
				src, _ := hex.DecodeString(h)
				if want == nil {
					continue // SyntaxError: detectCases say what pyscope does
				}
				compared++
				if got := DetectEncoding(src); got != *want {
					t.Errorf("DetectEncoding(%q) = %q, Python's detect_encoding %q", src, got, *want)
				}
			}
			if compared < len(detectCases)/2 {
				t.Errorf("Python detected only %d of %d sources", compared, len(py.Detect))
			}
		})
	}
}

func detectSources() []string {
	var out []string
	for _, c := range detectCases {
		out = append(out, c.src)
	}
	return seedCorpus(out)
}

// seedCorpus adds the sources of the committed fuzz corpus.
func seedCorpus(out []string) []string {
	files, _ := filepath.Glob("testdata/fuzz/FuzzDecode/*")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.SplitN(string(raw), "\n", 2)
		if len(lines) < 2 {
			continue
		}
		v := strings.TrimSpace(lines[1])
		if s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(v, "[]byte("), ")")); err == nil {
			out = append(out, s)
		}
	}
	return out
}

func isSingleByte(m string) bool {
	return !strings.Contains("shift_jis cp932 euc_jp iso2022_jp euc_kr cp949 gb2312 gbk gb18030 hz big5 cp950", m)
}

func checkNames(t *testing.T, py map[string]*string) {
	t.Helper()
	for name, want := range py {
		m := codecModule(name)
		switch {
		case m == "":
			// Python knows a codec pyscope does not decode; it must not
			// be one pyscope has.
			if want != nil {
				for mod := range codecs {
					if n := py[mod]; n != nil && *n == *want {
						t.Errorf("%q is Python's %s, which pyscope decodes as %s, but pyscope does not find it", name, *want, mod)
					}
				}
			}
		case want == nil:
			if _, newer := pythonAliases[normalizeEncoding(strings.ToLower(name))]; !newer {
				t.Errorf("pyscope decodes %q as %s; Python has no such codec", name, m)
			} // else an alias a later version added
		case py[m] == nil || *py[m] != *want:
			t.Errorf("pyscope decodes %q as %s; Python's codec for it is %s", name, m, *want)
		}
	}
}

func checkSingle(t *testing.T, py map[string][]*string) {
	t.Helper()
	for m, row := range py {
		bad := 0
		for b, want := range row {
			if b < 0x80 && (want == nil || *want != string(rune(b))) {
				t.Errorf("%s: byte %#x is %v in Python: not ASCII-compatible", m, b, want)
			}
			if want == nil {
				continue // Python cannot decode the file: anything goes
			}
			if got := codecs[m]([]byte{byte(b)}); got != *want {
				if bad++; bad <= 5 {
					t.Errorf("%s: byte %#x decodes to %q, Python's %q", m, b, got, *want)
				}
			}
		}
		if bad > 5 {
			t.Errorf("%s: %d bytes differ in all", m, bad)
		}
	}
}

// knownDifference says where x/text's tables (WHATWG's) and Python's
// codecs knowingly part; docs/guide.md tells users.
func knownDifference(m string, enc []byte, want rune, got string) bool {
	switch {
	case (m == "cp932" || m == "gb18030") && want >= 0xe000 && want <= 0xf8ff && got == "\ufffd":
		// User-defined areas: Python gives private-use characters, x/text
		// U+FFFD; both are three UTF-8 bytes and one column, so markers
		// stay aligned.
		return true
	case m == "gb18030" && string(enc) == "\xa3\xa0":
		// GB 18030-2005 moved this one from U+E5E5 to U+3000.
		return got == "\u3000"
	case (m == "big5" || m == "cp950") && len(enc) == 2 && (enc[0] == 0xc6 || enc[0] == 0xc7):
		// Rows 0xc6-0xc7: ETEN's kana, Cyrillic and numbers in Python,
		// HKSCS's characters in WHATWG's Big5.
		return true
	case m == "euc_kr" && len(enc) == 8 && enc[0] == 0xa4 && enc[1] == 0xd4:
		// KS X 1001 make-up sequences of a syllable outside the
		// character set: Python composes them, x/text shows the jamo.
		return true
	}
	return false
}

func checkMulti(t *testing.T, py map[string][][2]any) {
	t.Helper()
	for m, pairs := range py {
		if len(pairs) < 1000 {
			t.Errorf("%s: Python encodes only %d characters", m, len(pairs))
		}
		bad := 0
		for _, p := range pairs {
			cp, _ := p[0].(float64)
			h, _ := p[1].(string)
			enc, _ := hex.DecodeString(h)
			if got, want := codecs[m](enc), string(rune(cp)); got != want && !knownDifference(m, enc, rune(cp), got) {
				if bad++; bad <= 5 {
					t.Errorf("%s: % x decodes to %q, Python's %q (U+%04X)", m, enc, got, want, int(cp))
				}
			}
		}
		if bad > 5 {
			t.Errorf("%s: %d of %d characters differ", m, bad, len(pairs))
		}
	}
}
