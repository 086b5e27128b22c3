package layout

// TablePatch returns the patch version ("3.12.3") the generated table of a
// minor version ("3.12") was made from, or "".
func TablePatch(minor string) string {
	if t, ok := tables[minor]; ok {
		return t.Patch
	}
	return ""
}
