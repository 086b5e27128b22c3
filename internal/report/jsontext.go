package report

import (
	"bytes"
	"reflect"

	"pyscope/internal/wtf8"
)

// JSON strings are valid UTF-8, so a lone surrogate of a Python str
// (package wtf8), which UTF-8 cannot carry, is U+FFFD there, one for one.
// An escaped surrogate ("\udc80") would keep it for Python's json module,
// but strict parsers reject it (RFC 8259 leaves it undefined); the text
// output shows it as repr() does. encoding/json would write each of its
// three bytes as U+FFFD: where its output says it met invalid UTF-8 (the
// only way it writes the escape \ufffd), the value is encoded again from a
// copy whose surrogates are U+FFFD.

// invalidUTF8 reports whether encoding/json's output came from a string
// that was not valid UTF-8.
func invalidUTF8(out []byte) bool { return bytes.Contains(out, []byte(`\ufffd`)) }

// validUTF8Copy is a deep copy of v with every string's lone surrogates
// made U+FFFD (wtf8.ToUTF8).
func validUTF8Copy(v any) any {
	if v == nil {
		return nil
	}
	return utf8Copy(reflect.ValueOf(v)).Interface()
}

func utf8Copy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if c := wtf8.ToUTF8(s); c != s {
			n := reflect.New(v.Type()).Elem()
			n.SetString(c)
			return n
		}
	case reflect.Pointer:
		if !v.IsNil() {
			p := reflect.New(v.Type().Elem())
			p.Elem().Set(utf8Copy(v.Elem()))
			return p
		}
	case reflect.Interface:
		if !v.IsNil() {
			n := reflect.New(v.Type()).Elem()
			n.Set(utf8Copy(v.Elem()))
			return n
		}
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		for i := 0; i < n.NumField(); i++ {
			if f := n.Field(i); f.CanSet() {
				f.Set(utf8Copy(v.Field(i)))
			}
		}
		return n
	case reflect.Slice:
		if !v.IsNil() && v.Type().Elem().Kind() != reflect.Uint8 { // []byte is base64
			n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			for i := 0; i < v.Len(); i++ {
				n.Index(i).Set(utf8Copy(v.Index(i)))
			}
			return n
		}
	case reflect.Array:
		n := reflect.New(v.Type()).Elem()
		for i := 0; i < v.Len(); i++ {
			n.Index(i).Set(utf8Copy(v.Index(i)))
		}
		return n
	case reflect.Map:
		if !v.IsNil() {
			n := reflect.MakeMapWithSize(v.Type(), v.Len())
			for it := v.MapRange(); it.Next(); {
				n.SetMapIndex(utf8Copy(it.Key()), utf8Copy(it.Value()))
			}
			return n
		}
	}
	return v
}
