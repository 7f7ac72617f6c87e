package logbuf_test

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/cpgw/cpgw/internal/logbuf"
)

func TestBufferConcurrentWrites(t *testing.T) {
	var b logbuf.Buffer
	if b.Lines() != nil {
		t.Fatalf("empty buffer has lines %q", b.Lines())
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				fmt.Fprintf(&b, "%d-%d\n", i, j)
				_ = b.String() // reading while others write is what it is for (-race)
			}
		})
	}
	wg.Wait()
	lines := b.Lines()
	if len(lines) != 400 || !slices.Contains(lines, "7-49") {
		t.Fatalf("%d lines, want 400 including 7-49", len(lines))
	}
}

func ExampleBuffer() {
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	log.Info("lease acquired", "shard", 3)
	fmt.Println(logs.Lines())
	// Output: [level=INFO msg="lease acquired" shard=3]
}
