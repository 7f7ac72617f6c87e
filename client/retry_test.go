package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/client"
)

func TestRetryAfterIsTheLeastWait(t *testing.T) {
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			replyError(w, http.StatusServiceUnavailable, api.CodeQuorumNotReached, "1 of 2 replicas", api.HeaderRetryAfter, "1")
			return
		}
		replyObject(w, http.StatusOK, "ns", "obj", 2, `{}`)
	})
	// The backoff alone would retry after a millisecond.
	c := newClient(t, []string{p.URL})
	obj, err := c.Put(context.Background(), "ns", "obj", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	hits := p.Hits()
	if len(hits) != 2 || obj.Info.Attempts != 2 {
		t.Fatalf("%d requests, Attempts %d; want 2", len(hits), obj.Info.Attempts)
	}
	if gap := hits[1].At.Sub(hits[0].At); gap < time.Second {
		t.Errorf("retried after %v, Retry-After said 1s", gap)
	}
}

func TestRetryAfterIsHonouredPerGateway(t *testing.T) {
	// Both gateways say "not before 1s": the call may try the second at
	// once, but asks neither again before its Retry-After.
	script := func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			replyError(w, http.StatusServiceUnavailable, api.CodeNoOwner, "electing", api.HeaderRetryAfter, "1")
			return
		}
		replyObject(w, http.StatusOK, "ns", "obj", 2, `{}`)
	}
	a, b := newPeer(t, script), newPeer(t, script)
	c := newClient(t, []string{a.URL, b.URL})
	obj, err := c.Get(context.Background(), "ns", "obj")
	if err != nil {
		t.Fatal(err)
	}
	if a.Count() != 2 || b.Count() != 1 || obj.Info.Gateway != a.URL {
		t.Fatalf("hits a=%d b=%d, served by %s", a.Count(), b.Count(), obj.Info.Gateway)
	}
	if gap := a.Hits()[1].At.Sub(a.Hits()[0].At); gap < time.Second {
		t.Errorf("gateway a asked again after %v, Retry-After said 1s", gap)
	}
}

func TestConnectionRefusedMovesToTheNextGateway(t *testing.T) {
	live := okPeer(t)
	c := newClient(t, []string{deadURL(t), live.URL})
	obj, err := c.Get(context.Background(), "ns", "obj")
	if err != nil {
		t.Fatal(err)
	}
	if obj.Info.Gateway != live.URL || obj.Info.Attempts != 2 || live.Count() != 1 {
		t.Errorf("served by %s after %d attempts; live hits %d", obj.Info.Gateway, obj.Info.Attempts, live.Count())
	}
}

func TestFailoverStaysOnTheFallbackUntilFailback(t *testing.T) {
	var preferredUp atomic.Bool
	preferred := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if !preferredUp.Load() {
			hangUp(w)
			return
		}
		replyObject(w, http.StatusOK, "ns", "obj", 1, `{}`)
	})
	fallback := okPeer(t)
	get := func(c *client.Client) string {
		t.Helper()
		obj, err := c.Get(context.Background(), "ns", "obj")
		if err != nil {
			t.Fatal(err)
		}
		return obj.Info.Gateway
	}

	// Within the failback interval calls stay on the fallback, and the
	// preferred gateway is left alone.
	sticky := newClient(t, []string{preferred.URL, fallback.URL}, client.WithFailbackAfter(time.Hour))
	for i := range 3 {
		if g := get(sticky); g != fallback.URL {
			t.Fatalf("call %d served by %s", i, g)
		}
	}
	if n := preferred.Count(); n != 1 {
		t.Fatalf("preferred asked %d times, want once", n)
	}

	// Once the interval has passed, the next call tries the preferred
	// gateway first, and stays there when it answers.
	const failback = 50 * time.Millisecond
	c := newClient(t, []string{preferred.URL, fallback.URL}, client.WithFailbackAfter(failback))
	if g := get(c); g != fallback.URL {
		t.Fatalf("first call served by %s", g)
	}
	preferredUp.Store(true)
	time.Sleep(failback)
	for i := range 2 {
		if g := get(c); g != preferred.URL {
			t.Fatalf("call %d after the failback interval served by %s, want the preferred gateway", i, g)
		}
	}
	if n := fallback.Count(); n != 4 {
		t.Errorf("fallback hits %d, want 4", n)
	}
}

func TestFailbackZeroStartsEveryCallAtThePreferredGateway(t *testing.T) {
	preferred, fallback := hangUpPeer(t), okPeer(t)
	c := newClient(t, []string{preferred.URL, fallback.URL}, client.WithFailbackAfter(0))
	for range 3 {
		if _, err := c.Get(context.Background(), "ns", "obj"); err != nil {
			t.Fatal(err)
		}
	}
	if preferred.Count() != 3 || fallback.Count() != 3 {
		t.Errorf("hits preferred=%d fallback=%d, want 3 and 3", preferred.Count(), fallback.Count())
	}
}

func TestOneIdempotencyKeyForEveryAttemptOfAWrite(t *testing.T) {
	writes := []struct {
		name string
		do   func(c *client.Client, opts ...client.WriteOption) (*client.Object, error)
	}{
		{"put", func(c *client.Client, opts ...client.WriteOption) (*client.Object, error) {
			return c.Put(context.Background(), "ns", "obj", map[string]int{"n": 1}, opts...)
		}},
		{"delete", func(c *client.Client, opts ...client.WriteOption) (*client.Object, error) {
			return c.Delete(context.Background(), "ns", "obj", opts...)
		}},
	}
	for _, w := range writes {
		for _, callerKey := range []string{"", "caller-chosen-1"} {
			t.Run(fmt.Sprintf("%s key=%q", w.name, callerKey), func(t *testing.T) {
				// a drops every connection; b is unavailable once, then answers.
				a := hangUpPeer(t)
				b := newPeer(t, func(rw http.ResponseWriter, r *http.Request, n int) {
					if n == 0 {
						replyError(rw, http.StatusServiceUnavailable, api.CodeNoOwner, "electing")
						return
					}
					replyObject(rw, http.StatusOK, "ns", "obj", 5, `{}`, api.HeaderIdempotentReplayed, "true")
				})
				c := newClient(t, []string{a.URL, b.URL})
				var opts []client.WriteOption
				if callerKey != "" {
					opts = append(opts, client.IdempotencyKey(callerKey))
				}
				obj, err := w.do(c, opts...)
				if err != nil {
					t.Fatal(err)
				}
				hits := append(a.Hits(), b.Hits()...)
				if len(hits) < 4 || a.Count() < 2 || b.Count() != 2 {
					t.Fatalf("hits a=%d b=%d; want both gateways tried twice", a.Count(), b.Count())
				}
				key := hits[0].Header.Get(api.HeaderIdempotencyKey)
				if !api.ValidIdempotencyKey(key) || (callerKey != "" && key != callerKey) {
					t.Fatalf("key %q", key)
				}
				for i, h := range hits {
					if got := h.Header.Get(api.HeaderIdempotencyKey); got != key {
						t.Errorf("attempt %d sent key %q, first sent %q", i, got, key)
					}
					if string(h.Body) != string(hits[0].Body) {
						t.Errorf("attempt %d sent body %q, first sent %q", i, h.Body, hits[0].Body)
					}
				}
				if obj.Info.IdempotencyKey != key || !obj.Info.Replayed {
					t.Errorf("Info = %+v", obj.Info)
				}
			})
		}
	}
}

func TestEachLogicalWriteGetsItsOwnKey(t *testing.T) {
	p := okPeer(t)
	c := newClient(t, []string{p.URL})
	for range 2 {
		if _, err := c.Put(context.Background(), "ns", "obj", map[string]int{"same": 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Delete(context.Background(), "ns", "obj"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, h := range p.Hits() {
		k := h.Header.Get(api.HeaderIdempotencyKey)
		if seen[k] || !api.ValidIdempotencyKey(k) {
			t.Errorf("key %q repeated or invalid", k)
		}
		seen[k] = true
	}
}

func TestNoRetryOnFinalStatuses(t *testing.T) {
	tests := []struct {
		status int
		code   string
	}{
		{400, api.CodeInvalidName},
		{401, api.CodeUnauthenticated},
		{403, api.CodeForbidden},
		{404, api.CodeNotFound},
		{409, api.CodeConflict},
		{410, api.CodeGone},
		{412, api.CodePreconditionFailed},
		{413, api.CodeBodyTooLarge},
		{415, api.CodeUnsupportedMedia},
		{422, api.CodeIdempotencyMismatch},
		{500, api.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", tt.status, tt.code), func(t *testing.T) {
			p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				replyError(w, tt.status, tt.code, "final", api.HeaderRetryAfter, "1")
			})
			other := okPeer(t)
			c := newClient(t, []string{p.URL, other.URL})
			_, errGet := c.Get(context.Background(), "ns", "obj")
			_, errPut := c.Put(context.Background(), "ns", "obj", struct{}{})
			for _, err := range []error{errGet, errPut} {
				var e *client.Error
				if !errors.As(err, &e) || e.StatusCode != tt.status || errors.Is(err, client.ErrUnavailable) {
					t.Errorf("err = %v", err)
				}
			}
			if p.Count() != 2 || other.Count() != 0 {
				t.Errorf("hits %d and %d, want 2 (one per call) and 0", p.Count(), other.Count())
			}
		})
	}
}

func TestRetriedStatuses(t *testing.T) {
	tests := []struct {
		status   int
		code     string
		failover bool // whether the retry goes to the next gateway
	}{
		{429, api.CodeOverloaded, false},
		{409, api.CodeIdempotencyInFlight, false},
		{421, api.CodeMisdirected, true},
		{502, "", true},
		{503, api.CodeUnavailable, true},
		{504, "", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", tt.status, tt.code), func(t *testing.T) {
			script := func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					replyError(w, tt.status, tt.code, "transient")
					return
				}
				replyObject(w, http.StatusOK, "ns", "obj", 1, `{}`)
			}
			a, b := newPeer(t, script), okPeer(t)
			c := newClient(t, []string{a.URL, b.URL})
			obj, err := c.Put(context.Background(), "ns", "obj", struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			want := a.URL
			if tt.failover {
				want = b.URL
			}
			if obj.Info.Gateway != want || obj.Info.Attempts != 2 {
				t.Errorf("served by %s after %d attempts, want %s after 2", obj.Info.Gateway, obj.Info.Attempts, want)
			}
		})
	}
}

func TestIdempotencyInFlightWaitsForTheReplay(t *testing.T) {
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n < 2 {
			replyError(w, http.StatusConflict, api.CodeIdempotencyInFlight, "first attempt still running")
			return
		}
		replyObject(w, http.StatusCreated, "ns", "obj", 1, `{"a":1}`, api.HeaderIdempotentReplayed, "true")
	})
	c := newClient(t, []string{p.URL})
	obj, err := c.Put(context.Background(), "ns", "obj", map[string]int{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	if !obj.Info.Replayed || obj.Info.StatusCode != http.StatusCreated || obj.Info.Attempts != 3 {
		t.Errorf("Info = %+v", obj.Info)
	}
	hits := p.Hits()
	for _, h := range hits[1:] {
		if h.Header.Get(api.HeaderIdempotencyKey) != hits[0].Header.Get(api.HeaderIdempotencyKey) {
			t.Error("the retry changed the idempotency key")
		}
	}
}

func TestRetriesRunOut(t *testing.T) {
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		replyError(w, http.StatusServiceUnavailable, api.CodeNoOwner, "no owner for shard 3")
	})
	c := newClient(t, []string{p.URL}, client.WithRetry(time.Millisecond, 2*time.Millisecond, 50*time.Millisecond))
	_, err := c.Get(context.Background(), "ns", "obj")
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	var e *client.Error
	if !errors.As(err, &e) || e.Code != api.CodeNoOwner {
		t.Errorf("last error not reachable: %v", err)
	}
	if p.Count() < 2 {
		t.Errorf("%d attempts", p.Count())
	}
}

func TestNoGatewayReachable(t *testing.T) {
	c := newClient(t, []string{deadURL(t), deadURL(t)}, client.WithRetry(time.Millisecond, 2*time.Millisecond, 50*time.Millisecond))
	_, err := c.Put(context.Background(), "ns", "obj", struct{}{})
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	var e *client.Error
	if errors.As(err, &e) {
		t.Errorf("connection errors reported as a server error: %v", e)
	}
}

func TestCancelStopsRetries(t *testing.T) {
	t.Run("while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			replyError(w, http.StatusServiceUnavailable, api.CodeNoOwner, "electing", api.HeaderRetryAfter, "3600")
		})
		// No retry budget: only the context can end this call. The
		// client logs its decision to wait; that is when to cancel.
		c := newClient(t, []string{p.URL}, client.WithRetry(time.Millisecond, time.Millisecond, 0),
			client.WithLogger(slog.New(onLog{msg: "cpgw: retrying", do: cancel})))
		_, err := c.Put(ctx, "ns", "obj", struct{}{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if !errors.Is(err, client.ErrUnavailable) {
			t.Errorf("the last attempt's 503 is lost: %v", err)
		}
		if p.Count() != 1 {
			t.Errorf("%d attempts", p.Count())
		}
	})
	t.Run("during an attempt", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			cancel()
			<-r.Context().Done() // the client hangs up
		})
		other := okPeer(t)
		c := newClient(t, []string{p.URL, other.URL})
		_, err := c.Get(ctx, "ns", "obj")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if other.Count() != 0 {
			t.Error("a cancelled call failed over")
		}
	})
	t.Run("deadline before Retry-After", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			replyError(w, http.StatusTooManyRequests, api.CodeOverloaded, "shed", api.HeaderRetryAfter, "7200")
		})
		c := newClient(t, []string{p.URL}, client.WithRetry(time.Millisecond, time.Millisecond, 0))
		_, err := c.Get(ctx, "ns", "obj")
		// It gives up at once instead of sleeping into the deadline.
		if !errors.Is(err, client.ErrUnavailable) || !errors.Is(err, client.ErrOverloaded) || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if p.Count() != 1 {
			t.Errorf("%d attempts", p.Count())
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		p := okPeer(t)
		c := newClient(t, []string{p.URL})
		if _, err := c.Get(ctx, "ns", "obj"); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if p.Count() != 0 {
			t.Errorf("%d requests sent", p.Count())
		}
	})
}

func TestRetryBudgetCountsRetryAfter(t *testing.T) {
	p := newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		replyError(w, http.StatusServiceUnavailable, api.CodeNoOwner, "electing", api.HeaderRetryAfter, "60")
	})
	c := newClient(t, []string{p.URL}, client.WithRetry(time.Millisecond, time.Millisecond, time.Second))
	_, err := c.Get(context.Background(), "ns", "obj")
	if !errors.Is(err, client.ErrUnavailable) || p.Count() != 1 {
		t.Fatalf("err = %v after %d attempts; want to give up after 1", err, p.Count())
	}
}

// onLog is a slog.Handler that runs do when msg is logged.
type onLog struct {
	msg string
	do  func()
}

func (h onLog) Enabled(context.Context, slog.Level) bool { return true }
func (h onLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.do()
	}
	return nil
}
func (h onLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onLog) WithGroup(string) slog.Handler      { return h }
