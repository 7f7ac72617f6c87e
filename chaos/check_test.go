package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"
)

const msec = time.Millisecond

// Builders for hand-made histories; times are in milliseconds.

func hWrite(client int, key, val string, ver, tok uint64, call, ret int) Op {
	return Op{Client: client, Key: key, Kind: OpWrite, Value: val, Version: ver, FencingToken: tok,
		Call: time.Duration(call) * msec, Return: time.Duration(ret) * msec, Outcome: OutcomeOK}
}

func hUnknown(client int, key, val string, call, ret int) Op {
	op := hWrite(client, key, val, 0, 0, call, ret)
	op.Outcome, op.Err = OutcomeUnknown, "context deadline exceeded"
	return op
}

func hFailed(client int, key, val string, call, ret int) Op {
	op := hWrite(client, key, val, 0, 0, call, ret)
	op.Outcome, op.Err = OutcomeFailed, "422 idempotency_mismatch"
	return op
}

func withIdem(op Op, key string, replayed bool) Op {
	op.IdempotencyKey, op.Replayed = key, replayed
	return op
}

// rd is a strong read; val "" means absent.
func hRead(client int, key, val string, ver uint64, call, ret int) Op {
	return Op{Client: client, Key: key, Kind: OpRead, Value: val, Found: val != "", Version: ver, Strong: true,
		Call: time.Duration(call) * msec, Return: time.Duration(ret) * msec, Outcome: OutcomeOK}
}

func hLocal(client int, key, val string, ver uint64, call, ret int, bound, maxStale time.Duration) Op {
	op := hRead(client, key, val, ver, call, ret)
	op.Strong, op.StalenessBound, op.MaxStaleness = false, bound, maxStale
	return op
}

// findingShape is the exact shape of the findings a history must produce.
type findingShape struct {
	notLinearizable                       bool
	lost, nonMonotonic, token, dup, local int
}

func shapeOf(f Findings) findingShape {
	return findingShape{!f.Linearizable, len(f.LostWrites), len(f.NonMonotonicVersions),
		len(f.StaleTokenWrites), len(f.DuplicateEffects), len(f.StaleLocalReads)}
}

func TestCheckHistory(t *testing.T) {
	const a, b = "ns/a", "ns/b"
	for _, tc := range []struct {
		name string
		ops  []Op
		want findingShape
	}{{
		name: "concurrent ops, linearizable",
		ops: []Op{
			hWrite(0, a, "x", 1, 1, 0, 10),
			hRead(1, a, "x", 1, 2, 8), // sees x before x's write returned
			hRead(2, a, "", 0, 3, 5),  // concurrent with it: absent is fine too
			hFailed(3, a, "z", 4, 6),
			hWrite(1, a, "y", 2, 1, 12, 20),
			hRead(2, a, "x", 1, 13, 19), // concurrent with y
			hWrite(3, b, "p", 1, 1, 0, 30),
			hRead(-1, a, "y", 2, 40, 41),
			hRead(-1, b, "p", 1, 41, 42),
		},
	}, {
		// A strong read after an acknowledged write misses it. By the
		// lost-write rule that write is also lost, though the final read
		// shows it again: both findings, by design.
		name: "stale strong read",
		ops: []Op{
			hWrite(0, a, "x", 1, 1, 0, 10),
			hRead(1, a, "", 0, 20, 25),
			hRead(-1, a, "x", 1, 30, 31),
		},
		want: findingShape{notLinearizable: true, lost: 1},
	}, {
		name: "unknown-outcome write later observed",
		ops: []Op{
			hUnknown(0, a, "x", 0, 10),
			hRead(1, a, "x", 1, 20, 25),
			hRead(-1, a, "x", 1, 30, 31),
		},
	}, {
		name: "unknown-outcome write never observed",
		ops: []Op{
			hWrite(0, a, "x", 1, 1, 0, 10),
			hUnknown(1, a, "y", 12, 20),
			hRead(2, a, "x", 1, 25, 28),
			hRead(-1, a, "x", 1, 30, 31),
		},
	}, {
		name: "unknown-outcome write applied after it timed out",
		ops: []Op{
			hUnknown(0, a, "x", 0, 10),
			hRead(1, a, "", 0, 20, 25),
			hRead(-1, a, "x", 1, 30, 31),
		},
	}, {
		name: "lost write: the final read misses it",
		ops: []Op{
			hWrite(0, a, "x", 1, 1, 0, 10),
			hWrite(1, a, "y", 2, 1, 12, 20),
			hRead(-1, a, "x", 1, 30, 31),
		},
		want: findingShape{notLinearizable: true, lost: 1},
	}, {
		// y is lost on failover and its version reused by z: the final
		// read alone (v2) would not tell.
		name: "lost write hidden by a reused version",
		ops: []Op{
			hWrite(0, a, "x", 1, 1, 0, 10),
			hWrite(1, a, "y", 2, 1, 12, 20),
			hRead(2, a, "x", 1, 22, 24),
			hWrite(1, a, "z", 2, 2, 26, 30),
			hRead(-1, a, "z", 2, 40, 41),
		},
		want: findingShape{notLinearizable: true, lost: 1, nonMonotonic: 1},
	}, {
		name: "version goes backwards for a client",
		ops: []Op{
			hWrite(0, a, "x", 2, 1, 0, 10),
			hWrite(0, a, "y", 1, 1, 20, 30),
		},
		want: findingShape{notLinearizable: true, nonMonotonic: 1},
	}, {
		name: "write applied under a stale token",
		ops: []Op{
			hWrite(0, a, "x", 1, 2, 0, 10),
			hWrite(1, a, "y", 2, 1, 20, 30),
			hRead(-1, a, "y", 2, 40, 41),
		},
		want: findingShape{token: 1},
	}, {
		name: "one idempotency key, two effects",
		ops: []Op{
			withIdem(hWrite(0, a, "x", 1, 1, 0, 10), "k1", false),
			withIdem(hWrite(0, a, "x", 2, 1, 20, 30), "k1", false),
			hRead(-1, a, "x", 2, 40, 41),
		},
		want: findingShape{dup: 1},
	}, {
		// Sent with no key (the gateway made one the client never saw),
		// and applied twice: its value is seen at two versions.
		name: "a keyless write applied twice",
		ops: []Op{
			hWrite(0, a, "x", 1, 1, 0, 10),
			hRead(1, a, "x", 2, 20, 21),
		},
		want: findingShape{notLinearizable: true, dup: 1},
	}, {
		// The first attempt took effect at v1; a newer write (token 2)
		// followed; the retry replays the first response, token 1. One
		// effect, early: nothing to report.
		name: "replay after newer writes",
		ops: []Op{
			withIdem(hUnknown(0, a, "x", 0, 10), "k1", false),
			hRead(1, a, "x", 1, 11, 12),
			hWrite(1, a, "y", 2, 2, 13, 14),
			withIdem(hWrite(0, a, "x", 1, 1, 20, 30), "k1", true),
			hRead(-1, a, "y", 2, 40, 41),
		},
	}, {
		name: "local read past its bound",
		ops: []Op{
			hWrite(0, a, "x", 1, 1, 0, 10),
			hLocal(1, a, "x", 1, 20, 21, 6*time.Second, 5*time.Second),
			hLocal(1, a, "x", 1, 22, 23, 4*time.Second, 5*time.Second),
			hRead(-1, a, "x", 1, 40, 41),
		},
		want: findingShape{local: 1},
	}, {
		// Lagging within the bound is allowed, even behind the reader's own
		// write (no version regression for local reads); past it is not.
		name: "local read older than its bound",
		ops: []Op{
			hWrite(0, a, "x", 1, 1, 0, 10),
			hLocal(0, a, "", 0, 500, 501, 100*msec, time.Second),
			hLocal(1, a, "", 0, 2000, 2001, 100*msec, time.Second),
			hRead(-1, a, "x", 1, 3000, 3001),
		},
		want: findingShape{local: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f := CheckHistory(tc.ops, CheckOptions{VisualizeDir: dir, Name: "case/" + tc.name})
			if got := shapeOf(f); got != tc.want {
				t.Fatalf("findings %+v, want %+v\n%s", got, tc.want, dumpFindings(f))
			}
			if f.LinearizabilityTimedOut || f.OK() != (tc.want == findingShape{}) || f.Anomalies() != anomalyCount(tc.want) {
				t.Fatalf("timedOut=%v OK=%v anomalies=%d\n%s", f.LinearizabilityTimedOut, f.OK(), f.Anomalies(), dumpFindings(f))
			}
			if f.Ops != len(tc.ops) || f.Acknowledged+f.Failed+f.Unknown != f.Ops {
				t.Fatalf("counts: %+v", f)
			}
			if !tc.want.notLinearizable {
				if f.Visualization != "" {
					t.Fatalf("visualisation written for a linearizable history: %s", f.Visualization)
				}
				return
			}
			if st, err := os.Stat(f.Visualization); err != nil || st.Size() == 0 {
				t.Fatalf("visualisation %q: %v", f.Visualization, err)
			}
		})
	}
}

func anomalyCount(e findingShape) int {
	n := e.lost + e.nonMonotonic + e.token + e.dup + e.local
	if e.notLinearizable {
		n++
	}
	return n
}

func dumpFindings(f Findings) string {
	b, _ := json.MarshalIndent(f, "", "  ")
	return string(b)
}

func TestCheckEmptyHistory(t *testing.T) {
	if f := CheckHistory(nil, CheckOptions{}); !f.OK() || !f.Linearizable {
		t.Fatalf("%+v", f)
	}
}

// genHistory simulates a register per key sequentially, each op taking
// effect at its linearization point lp, and gives each op an interval
// around lp, one client's ops never overlapping. The result is
// linearizable and free of anomalies by construction, with heavy overlap
// between clients, unknown outcomes (applied or not), failed writes, local
// reads lagging within their bound, token changes and idempotent retries
// (replayed, or applied by the retry).
func genHistory(seed uint64, n, clients, keys int) []Op {
	rng := rand.New(rand.NewPCG(seed, 1))
	const step, jitter, lag = time.Millisecond, 4 * time.Millisecond, 500 * time.Millisecond
	type reg struct {
		value string
		ver   uint64
		at    time.Duration // lp of the write that made this state
	}
	regs := make([][]reg, keys) // each key's states, oldest first
	cur := func(k int) reg {
		if len(regs[k]) == 0 {
			return reg{}
		}
		return regs[k][len(regs[k])-1]
	}
	apply := func(k int, value string, lp time.Duration) reg {
		r := cur(k)
		r.ver, r.value, r.at = r.ver+1, value, lp
		regs[k] = append(regs[k], r)
		return r
	}
	type pending struct {
		op Op
		k  int
	}
	busyUntil := make([]time.Duration, clients)
	retry := make([]*pending, clients) // a write its client will retry
	tokens := make([]uint64, keys)
	var ops []Op
	for i := range n {
		lp := time.Duration(i+1) * step
		var free []int
		for c := range clients {
			if busyUntil[c] < lp {
				free = append(free, c)
			}
		}
		if len(free) == 0 {
			continue
		}
		c := free[rng.IntN(len(free))]
		call := max(busyUntil[c]+1, lp-time.Duration(rng.Int64N(int64(jitter))))
		ret := lp + time.Duration(rng.Int64N(int64(jitter)))
		busyUntil[c] = ret
		if p := retry[c]; p != nil {
			retry[c] = nil
			op := p.op
			op.Call, op.Return, op.Outcome, op.Err = call, ret, OutcomeOK, ""
			if op.Version != 0 { // the first attempt took effect: replay it
				op.Replayed = true
			} else { // it takes effect now
				op.Version, op.FencingToken = apply(p.k, op.Value, lp).ver, tokens[p.k]
			}
			ops = append(ops, op)
			continue
		}
		k := rng.IntN(keys)
		key := fmt.Sprintf("ns%d/k%d", k%3, k)
		if tokens[k] == 0 || rng.IntN(50) == 0 {
			tokens[k]++ // a new owner
		}
		r := cur(k)
		switch x := rng.IntN(100); {
		case x < 40:
			ops = append(ops, Op{Client: c, Key: key, Kind: OpRead, Value: r.value, Found: r.ver > 0,
				Version: r.ver, Strong: true, Call: call, Return: ret})
		case x < 50: // a replica up to lag behind
			seenAt := lp - time.Duration(rng.Int64N(int64(lag)))
			r = reg{}
			for _, s := range regs[k] {
				if s.at <= seenAt {
					r = s
				}
			}
			ops = append(ops, Op{Client: c, Key: key, Kind: OpRead, Value: r.value, Found: r.ver > 0,
				Version: r.ver, StalenessBound: lag, MaxStaleness: time.Second, Call: call, Return: ret})
		case x < 53:
			ops = append(ops, Op{Client: c, Key: key, Kind: OpWrite, Value: fmt.Sprintf("v%d", i),
				Call: call, Return: ret, Outcome: OutcomeFailed, Err: "400 bad_request"})
		case x < 90:
			op := Op{Client: c, Key: key, Kind: OpWrite, Value: fmt.Sprintf("v%d", i), Call: call, Return: ret}
			op.Version, op.FencingToken = apply(k, op.Value, lp).ver, tokens[k]
			ops = append(ops, op)
		default: // no answer; applied or not; retried or not
			op := Op{Client: c, Key: key, Kind: OpWrite, Value: fmt.Sprintf("v%d", i), Call: call, Return: ret,
				Outcome: OutcomeUnknown, Err: "timeout"}
			ops = append(ops, op)
			if rng.IntN(2) == 0 {
				op.Version, op.FencingToken = apply(k, op.Value, lp).ver, tokens[k]
			}
			if x < 95 {
				ops[len(ops)-1].IdempotencyKey = fmt.Sprintf("idem-%d", i)
				op.IdempotencyKey = ops[len(ops)-1].IdempotencyKey
				retry[c] = &pending{op, k}
			}
		}
	}
	end := time.Duration(n+10) * step
	for k := range keys {
		r := cur(k)
		ops = append(ops, Op{Client: -1, Key: fmt.Sprintf("ns%d/k%d", k%3, k), Kind: OpRead, Value: r.value,
			Found: r.ver > 0, Version: r.ver, Strong: true, Call: end + time.Duration(2*k), Return: end + time.Duration(2*k+1)})
	}
	return ops
}

func TestCheckGeneratedHistory(t *testing.T) {
	for seed := range uint64(5) {
		ops := genHistory(seed, 3000, 8, 6)
		start := time.Now()
		f := CheckHistory(ops, CheckOptions{})
		took := time.Since(start)
		if !f.OK() {
			t.Fatalf("seed %d: a linearizable history failed:\n%s", seed, dumpFindings(f))
		}
		if f.Unknown == 0 || f.Failed == 0 {
			t.Fatalf("seed %d: the generator made no unknown or failed ops: %+v", seed, f)
		}
		if took > time.Second {
			t.Fatalf("seed %d: %d ops took %s", seed, len(ops), took)
		}
		t.Logf("seed %d: %d ops (%d unknown) checked in %s", seed, len(ops), f.Unknown, took)
	}
}

// A history made non-linearizable by one stale read among thousands of ops
// is still caught.
func TestCheckGeneratedHistoryWithStaleRead(t *testing.T) {
	ops := genHistory(42, 3000, 8, 6)
	for i := len(ops) - 1; i >= 0; i-- {
		if op := ops[i]; op.Kind == OpRead && op.Strong && op.Version > 1 && op.Client >= 0 {
			ops[i].Version--
			ops[i].Value = "stale"
			break
		}
	}
	start := time.Now()
	f := CheckHistory(ops, CheckOptions{VisualizeDir: t.TempDir(), Name: "generated"})
	if f.Linearizable || f.LinearizabilityTimedOut || f.Visualization == "" {
		t.Fatalf("stale read not caught:\n%s", dumpFindings(f))
	}
	t.Logf("caught in %s (with the visualisation)", time.Since(start))
}

func BenchmarkCheck(b *testing.B) {
	ops := genHistory(1, 10000, 8, 8)
	b.ResetTimer()
	for b.Loop() {
		if f := CheckHistory(ops, CheckOptions{}); !f.OK() {
			b.Fatalf("%s", dumpFindings(f))
		}
	}
}

func TestModelStep(t *testing.T) {
	absent := regState{Exact: true}
	x1 := regState{Found: true, Value: "x", Version: 1, Exact: true}
	xAbove0 := regState{Found: true, Value: "x", Version: 0}
	for _, tc := range []struct {
		name  string
		state regState
		in    regInput
		out   regOutput
		ok    bool
		next  regState
	}{
		{"read absent", absent, regInput{}, regOutput{}, true, absent},
		{"read phantom", absent, regInput{}, regOutput{Found: true, Value: "x", Version: 1}, false, absent},
		{"write", absent, regInput{Write: true, Value: "x"}, regOutput{Found: true, Value: "x", Version: 1}, true, x1},
		{"write same version", x1, regInput{Write: true, Value: "y"}, regOutput{Found: true, Value: "y", Version: 1}, false, x1},
		{"unknown write", absent, regInput{Write: true, Value: "x"}, regOutput{Unknown: true}, true, xAbove0},
		{"read learns version", xAbove0, regInput{}, regOutput{Found: true, Value: "x", Version: 3}, true,
			regState{Found: true, Value: "x", Version: 3, Exact: true}},
		{"read wrong version", x1, regInput{}, regOutput{Found: true, Value: "x", Version: 2}, false, x1},
		{"read old value", x1, regInput{}, regOutput{}, false, x1},
	} {
		ok, next := stepRegister(tc.state, tc.in, tc.out)
		if ok != tc.ok || (ok && next != tc.next) {
			t.Errorf("%s: got %v %+v, want %v %+v", tc.name, ok, next, tc.ok, tc.next)
		}
	}
	m := RegisterModel()
	if got := m.DescribeState(x1); got != "x@v1" {
		t.Errorf("DescribeState = %q", got)
	}
	if got := m.DescribeOperation(regInput{Write: true, Value: "x"}, regOutput{Unknown: true}); got != "write(x) -> ?" {
		t.Errorf("DescribeOperation = %q", got)
	}
}

func TestHistoryConcurrent(t *testing.T) {
	h := NewHistory()
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := range 100 {
				call := h.Now()
				h.Add(Op{Client: c, Key: "ns/a", Kind: OpWrite, Value: fmt.Sprintf("c%d-%d", c, i), Call: call, Return: h.Now()})
			}
		})
	}
	wg.Wait()
	ops := h.Ops()
	if len(ops) != 800 {
		t.Fatalf("%d ops", len(ops))
	}
	for _, op := range ops {
		if op.Return < op.Call {
			t.Fatalf("clock went backwards: %+v", op)
		}
	}
	ops[0].Value = "changed"
	if h.Ops()[0].Value == "changed" {
		t.Fatal("Ops shares its slice with the history")
	}
}

func TestHistoryWriteJSON(t *testing.T) {
	h := NewHistory()
	want := []Op{
		withIdem(hWrite(0, "ns/a", "x", 1, 2, 0, 10), "k", true),
		hUnknown(1, "ns/a", "y", 5, 20),
		hLocal(2, "ns/a", "x", 1, 30, 31, 10*msec, time.Second),
	}
	for _, op := range want {
		h.Add(op)
	}
	var buf bytes.Buffer
	if err := h.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"kind":"write"`)) || !bytes.Contains(buf.Bytes(), []byte(`"outcome":"unknown"`)) {
		t.Fatalf("kinds and outcomes should be names:\n%s", buf.String())
	}
	var got []Op
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	var empty bytes.Buffer
	if err := NewHistory().WriteJSON(&empty); err != nil || json.Unmarshal(empty.Bytes(), &got) != nil || len(got) != 0 {
		t.Fatalf("empty history: %v %q", err, empty.String())
	}
	var k OpKind
	if err := k.UnmarshalText([]byte("delete")); err == nil {
		t.Fatal("unknown kind accepted")
	}
}
