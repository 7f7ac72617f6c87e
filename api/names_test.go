package api

import (
	"regexp"
	"strings"
	"testing"
)

var nameRE = regexp.MustCompile(NamePattern)

func TestValidNameMatchesPattern(t *testing.T) {
	for _, s := range []string{
		"", "a", "0", "-", ".", "_", "a-", "-a", "a.b", "a_b", "a-b", "ab", "A", "aB", "a b", "a/b", "{a}",
		"é", "a\x00b", "a..b", strings.Repeat("a", 253), strings.Repeat("a", 254), "a" + strings.Repeat("-", 251) + "a",
		"a" + strings.Repeat("-", 252) + "a",
	} {
		if got, want := ValidName(s), nameRE.MatchString(s) && len(s) <= MaxNameLen; got != want {
			t.Errorf("ValidName(%q) = %v; NamePattern says %v", s, got, want)
		}
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a", "payments", "a.b-c_d", "-x", "x-", "X", strings.Repeat("z", 253)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidName(s), nameRE.MatchString(s) && len(s) <= MaxNameLen; got != want {
			t.Errorf("ValidName(%q) = %v; NamePattern says %v", s, got, want)
		}
	})
}
