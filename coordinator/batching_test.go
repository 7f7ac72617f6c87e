package coordinator_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/shards"
)

// A busy writer holds its next batch open until as many writes as last
// time have queued (BatchWait bounds it); after a lone write it does not
// wait at all.
func TestBatchWait(t *testing.T) {
	const wait = time.Second // long, so that the test does not race the clock
	hs := newHookStore(embeddedBackend.open(t))
	a := startNode(t, hs, "a", func(c *coordinator.Config) { c.MaxBatch, c.BatchWait = 8, wait })
	a.waitOwnsAll(t)
	const ns = "linger"

	// A lone write: the writer was idle, so it is applied at once.
	begin := time.Now()
	a.put(t, ns, "lone", `{}`).expect(t, http.StatusCreated, "")
	if took := time.Since(begin); took >= wait/2 {
		t.Fatalf("a lone write on an idle writer took %s; BatchWait is %s and must not apply", took, wait)
	}

	// A batch of three: hold the store on one write, queue three behind it.
	shard := strconv.Itoa(shards.Of(ns, testShards))
	release := hs.hold()
	defer release()
	held := []<-chan response{async(func() response { return a.put(t, ns, "held", `{}`) })}
	hs.waitEntered(t)
	for i := range 3 {
		held = append(held, async(func() response { return a.put(t, ns, fmt.Sprintf("queued-%d", i), `{}`) }))
	}
	eventually(t, 10*time.Second, func() bool {
		return a.metric(t, "cpgw_coordinator_queue_depth", "shard", shard) == 3
	}, "3 writes to queue")
	release()
	for _, ch := range held {
		await(t, ch).expect(t, http.StatusCreated, "")
	}

	// The last batch held three writes, so the next three, sent one by
	// one, go to the store in one Apply.
	before := hs.applies.Load()
	var pending []<-chan response
	for i := range 3 {
		pending = append(pending, async(func() response { return a.put(t, ns, fmt.Sprintf("next-%d", i), `{}`) }))
		time.Sleep(10 * time.Millisecond)
	}
	for _, ch := range pending {
		await(t, ch).expect(t, http.StatusCreated, "")
	}
	if got := hs.applies.Load() - before; got != 1 {
		t.Errorf("three writes after a batch of three took %d Apply calls, want 1", got)
	}
}
