package api

// NamePattern is the grammar of namespace and object names: lower-case
// letters, digits and . _ -, starting and ending with a letter or digit, at
// most MaxNameLen long. It keeps names safe as path segments and as parts of
// store keys (no separators, braces or escapes).
const NamePattern = `^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$`

// MaxNameLen is the longest namespace or object name.
const MaxNameLen = 253

// ValidName reports whether s matches NamePattern. It is a byte loop, not
// the regexp: every request checks two names, and the regexp cost more
// than the rest of the parsing (the tests hold the two to each other).
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen || !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !alnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
