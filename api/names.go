package api

import "regexp"

// NamePattern is the grammar of namespace and object names: lower-case
// letters, digits and . _ -, starting and ending with a letter or digit, at
// most MaxNameLen long. It keeps names safe as path segments and as parts of
// store keys (no separators, braces or escapes).
const NamePattern = `^[a-z0-9]([a-z0-9._-]{0,251}[a-z0-9])?$`

// MaxNameLen is the longest namespace or object name.
const MaxNameLen = 253

var nameRE = regexp.MustCompile(NamePattern)

// ValidName reports whether s is a valid namespace or object name.
func ValidName(s string) bool { return len(s) <= MaxNameLen && nameRE.MatchString(s) }
