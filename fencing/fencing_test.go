package fencing_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cpgw/cpgw/fencing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name               string
		presented, current fencing.Token
		held               bool
		ok                 bool
	}{
		{"current token, lease held", 3, 3, true, true},
		{"older token", 2, 3, true, false},
		{"newer token than the store knows", 4, 3, true, false},
		{"current token, lease gone", 3, 3, false, false},
		{"zero token never passes", 0, 0, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := fencing.Check(7, tt.presented, tt.current, tt.held)
			if tt.ok {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, fencing.ErrStale) {
				t.Fatalf("Check = %v, want ErrStale", err)
			}
			var se *fencing.StaleError
			if !errors.As(fmt.Errorf("wrapped: %w", err), &se) {
				t.Fatalf("%v is not a *StaleError", err)
			}
			want := fencing.StaleError{Shard: 7, Presented: tt.presented, Current: tt.current, LeaseHeld: tt.held}
			if *se != want {
				t.Fatalf("StaleError = %+v, want %+v", *se, want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want fencing.Token
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{" 1", 0, false},
		{"0x10", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := fencing.Parse(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("Parse(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil && !errors.Is(err, fencing.ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
		})
	}
}

// Whatever Parse accepts, String writes back in a form Parse reads as the same token.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "1", "18446744073709551615", "-1", "", "1e3", "٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := fencing.Parse(s)
		if err != nil {
			return
		}
		// Leading zeros parse ("007" is 7); what String writes must come back.
		again, err := fencing.Parse(tok.String())
		if err != nil || again != tok {
			t.Fatalf("round trip of %d: %d, %v", tok, again, err)
		}
	})
}

func ExampleCheck() {
	// The shard's token is 5 and its lease is held: only token 5 may write.
	fmt.Println(fencing.Check(12, 5, 5, true))
	err := fencing.Check(12, 4, 5, true)
	fmt.Println(errors.Is(err, fencing.ErrStale), err)
	// Output:
	// <nil>
	// true fencing: shard 12: stale token 4 (current 5)
}
