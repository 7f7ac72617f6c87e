package embedded_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

// TestBeaconExpiry pins the instant a beacon runs out on the fake clock:
// TTLs round up to whole milliseconds, as in Redis.
func TestBeaconExpiry(t *testing.T) {
	tests := []struct {
		ttl, lives time.Duration
	}{
		{time.Millisecond, time.Millisecond},
		{1500 * time.Microsecond, 2 * time.Millisecond},
		{time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			s, clock := newFake(t, embedded.Config{})
			if err := s.SetBeacon(t.Context(), "gw", 9, tt.ttl); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tt.lives - time.Microsecond)
			if seq, err := s.Beacon(t.Context(), "gw"); err != nil || seq != 9 {
				t.Fatalf("Beacon just before %s = %d, %v; want 9", tt.lives, seq, err)
			}
			clock.Advance(time.Microsecond)
			if _, err := s.Beacon(t.Context(), "gw"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Beacon at %s = %v, want ErrNotFound", tt.lives, err)
			}
		})
	}
}
