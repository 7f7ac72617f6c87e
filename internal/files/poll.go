package files

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
)

// Poll calls check every interval on clock until ctx ends, and returns nil
// then. It is the loop of every reloader: check decides what changed and
// what to do about it.
func Poll(ctx context.Context, clock clockwork.Clock, interval time.Duration, check func()) error {
	t := clock.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.Chan():
			check()
		}
	}
}
