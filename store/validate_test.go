package store_test

import (
	"strings"
	"testing"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/store"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"payments", true},
		{"team-a.limits_v2", true},
		{"0", true},
		{strings.Repeat("a", 253), true},
		{strings.Repeat("a", 254), false},
		{"", false},
		{"-a", false},
		{"a-", false},
		{"A", false},
		{"a/b", false},
		{"a:b", false},
		{"{s1}", false},
		{"..", false},
		{"a%2Fb", false},
		{"café", false},
		{"a\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := store.ValidName(tt.name); got != tt.ok {
				t.Fatalf("ValidName(%q) = %v, want %v", tt.name, got, tt.ok)
			}
		})
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a", "a.b", "..", "a%2F", "é", strings.Repeat("z", 253)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !store.ValidName(s) {
			return
		}
		// A valid name is a safe key segment: no separators, braces or
		// anything outside the grammar, and bounded.
		if len(s) > api.MaxNameLen || strings.ContainsAny(s, ":{}/ %") || strings.ToLower(s) != s {
			t.Fatalf("ValidName accepted %q", s)
		}
	})
}
