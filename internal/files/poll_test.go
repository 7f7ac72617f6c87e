package files

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// Poll checks once per interval of its clock and stops with its context.
func TestPoll(t *testing.T) {
	clock := clockwork.NewFakeClock()
	ctx, cancel := context.WithCancel(context.Background())
	checks := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() { done <- Poll(ctx, clock, time.Second, func() { checks <- struct{}{} }) }()
	for i := 0; i < 3; i++ {
		if err := clock.BlockUntilContext(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
		select {
		case <-checks:
		case <-time.After(5 * time.Second):
			t.Fatalf("no check after interval %d", i+1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if len(checks) != 0 {
		t.Fatalf("%d checks without an interval passing", len(checks))
	}
}
