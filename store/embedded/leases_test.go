package embedded_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

func TestLeaseExpiry(t *testing.T) {
	const ttl = 10 * time.Second
	s, clock := newFake(t, embedded.Config{})
	l := acquire(t, s, 4, "a", ttl)
	want := store.Lease{Shard: 4, Owner: "a", Region: "r-a", Address: "http://a", Token: 1, TTL: ttl}
	if l != want {
		t.Fatalf("AcquireLease = %+v, want %+v", l, want)
	}

	// Remaining shrinks with the clock; the lease is held up to TTL−1ms.
	for _, step := range []struct {
		advance   time.Duration
		remaining time.Duration
	}{
		{0, ttl},
		{3 * time.Second, 7 * time.Second},
		{7*time.Second - time.Millisecond, time.Millisecond},
	} {
		clock.Advance(step.advance)
		st := leaseState(t, s, 4)
		if !st.Held || st.Remaining != step.remaining || st.Lease != want || st.Token != 1 {
			t.Fatalf("after %s: %+v, want held with %s left", step.advance, st, step.remaining)
		}
	}
	_, err := s.AcquireLease(t.Context(), leaseReq(4, "b", ttl))
	var held *store.HeldError
	if !errors.As(err, &held) || !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("AcquireLease at TTL−1ms = %v, want *HeldError", err)
	}
	wantHolder := store.LeaseState{Shard: 4, Held: true, Lease: want, Remaining: time.Millisecond, Token: 1}
	if held.Holder != wantHolder {
		t.Fatalf("Holder = %+v, want %+v", held.Holder, wantHolder)
	}

	// At exactly TTL it is gone and acquirable, with the next token.
	clock.Advance(time.Millisecond)
	if st := leaseState(t, s, 4); st.Held || st.Token != 1 || st.Remaining != 0 || st.Lease != (store.Lease{Shard: 4}) {
		t.Fatalf("at TTL: %+v, want not held, token 1", st)
	}
	if l := acquire(t, s, 4, "b", ttl); l.Token != 2 || l.Owner != "b" {
		t.Fatalf("AcquireLease at TTL = %+v, want b with token 2", l)
	}
}

func TestAcquireLeaseRefused(t *testing.T) {
	tests := []struct {
		name    string
		req     store.LeaseRequest
		wantErr error
	}{
		{"held, even by its own holder", leaseReq(0, "a", time.Second), store.ErrLeaseHeld},
		{"held, other owner", leaseReq(0, "b", time.Second), store.ErrLeaseHeld},
		{"negative shard", leaseReq(-1, "b", time.Second), store.ErrInvalid},
		{"no owner", leaseReq(1, "", time.Second), store.ErrInvalid},
		{"TTL below 1ms", leaseReq(1, "b", time.Microsecond), store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newFake(t, embedded.Config{})
			acquire(t, s, 0, "a", time.Minute)
			if _, err := s.AcquireLease(t.Context(), tt.req); !errors.Is(err, tt.wantErr) {
				t.Fatalf("AcquireLease = %v, want %v", err, tt.wantErr)
			}
			// A refused acquire never moves a counter.
			if st0, st1 := leaseState(t, s, 0), leaseState(t, s, 1); st0.Token != 1 || st1.Token != 0 {
				t.Fatalf("tokens after refusal: shard 0 %d, shard 1 %d; want 1, 0", st0.Token, st1.Token)
			}
		})
	}
}

func TestRenewLeases(t *testing.T) {
	const ttl = 10 * time.Second
	s, clock := newFake(t, embedded.Config{})
	a0 := acquire(t, s, 0, "a", ttl)
	a1 := acquire(t, s, 1, "a", ttl)
	acquire(t, s, 2, "b", ttl)
	a3 := acquire(t, s, 3, "a", time.Second) // runs out before the renewal
	clock.Advance(8 * time.Second)

	tests := []struct {
		name    string
		r       store.LeaseRenewal
		wantErr error
	}{
		{"held", store.LeaseRenewal{Shard: 0, Owner: "a", Token: a0.Token, TTL: ttl}, nil},
		{"wrong token", store.LeaseRenewal{Shard: 1, Owner: "a", Token: a1.Token + 7, TTL: ttl}, store.ErrLeaseLost},
		{"other owner", store.LeaseRenewal{Shard: 2, Owner: "a", Token: 1, TTL: ttl}, store.ErrLeaseLost},
		{"expired", store.LeaseRenewal{Shard: 3, Owner: "a", Token: a3.Token, TTL: ttl}, store.ErrLeaseLost},
		{"never granted", store.LeaseRenewal{Shard: 9, Owner: "a", Token: 1, TTL: ttl}, store.ErrLeaseLost},
		{"zero TTL", store.LeaseRenewal{Shard: 1, Owner: "a", Token: a1.Token}, store.ErrInvalid},
		{"no owner", store.LeaseRenewal{Shard: 1, Token: a1.Token, TTL: ttl}, store.ErrInvalid},
		{"zero token", store.LeaseRenewal{Shard: 1, Owner: "a", TTL: ttl}, store.ErrInvalid},
		{"negative shard", store.LeaseRenewal{Shard: -1, Owner: "a", Token: 1, TTL: ttl}, store.ErrInvalid},
	}
	rs := make([]store.LeaseRenewal, len(tests))
	for i, tt := range tests {
		rs[i] = tt.r
	}
	errs, err := s.RenewLeases(t.Context(), rs)
	if err != nil || len(errs) != len(rs) {
		t.Fatalf("RenewLeases = %d errors, %v", len(errs), err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(errs[i], tt.wantErr) || (tt.wantErr == nil) != (errs[i] == nil) {
				t.Fatalf("renewal %d = %v, want %v", i, errs[i], tt.wantErr)
			}
		})
	}

	t.Run("extends from the renew time", func(t *testing.T) {
		if st := leaseState(t, s, 0); st.Remaining != ttl {
			t.Fatalf("Remaining after renew = %s, want %s", st.Remaining, ttl)
		}
		if st := leaseState(t, s, 1); st.Remaining != 2*time.Second {
			t.Fatalf("unrenewed lease Remaining = %s, want 2s", st.Remaining)
		}
		clock.Advance(ttl - time.Millisecond)
		if st := leaseState(t, s, 0); !st.Held {
			t.Fatal("renewed lease gone at TTL−1ms after the renewal")
		}
		clock.Advance(time.Millisecond)
		if st := leaseState(t, s, 0); st.Held {
			t.Fatal("renewed lease still held at TTL after the renewal")
		}
	})

	t.Run("new TTL is reported", func(t *testing.T) {
		s, _ := newFake(t, embedded.Config{})
		l := acquire(t, s, 0, "a", time.Second)
		errs, _ := s.RenewLeases(t.Context(), []store.LeaseRenewal{{Shard: 0, Owner: "a", Token: l.Token, TTL: 5 * time.Second}})
		if st := leaseState(t, s, 0); errs[0] != nil || st.Lease.TTL != 5*time.Second || st.Remaining != 5*time.Second {
			t.Fatalf("after renew with 5s: %v, %+v", errs[0], st)
		}
	})

	t.Run("empty", func(t *testing.T) {
		if errs, err := s.RenewLeases(t.Context(), nil); err != nil || len(errs) != 0 {
			t.Fatalf("RenewLeases(nil) = %v, %v", errs, err)
		}
	})
}

func TestReleaseLease(t *testing.T) {
	const ttl = 10 * time.Second
	tests := []struct {
		name    string
		advance time.Duration
		owner   string
		token   func(l store.Lease) fencing.Token
		wantErr error
	}{
		{"holder", 0, "a", func(l store.Lease) fencing.Token { return l.Token }, nil},
		{"other owner", 0, "b", func(l store.Lease) fencing.Token { return l.Token }, store.ErrLeaseLost},
		{"other token", 0, "a", func(l store.Lease) fencing.Token { return l.Token + 1 }, store.ErrLeaseLost},
		{"expired", ttl, "a", func(l store.Lease) fencing.Token { return l.Token }, store.ErrLeaseLost},
		{"zero token", 0, "a", func(store.Lease) fencing.Token { return 0 }, store.ErrInvalid},
		{"no owner", 0, "", func(l store.Lease) fencing.Token { return l.Token }, store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clock := newFake(t, embedded.Config{})
			l := acquire(t, s, 0, "a", ttl)
			clock.Advance(tt.advance)
			err := s.ReleaseLease(t.Context(), 0, tt.owner, tt.token(l))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("ReleaseLease = %v, want %v", err, tt.wantErr)
			}
			st := leaseState(t, s, 0)
			if st.Token != 1 {
				t.Fatalf("token after release = %d; the counter must never reset", st.Token)
			}
			if tt.wantErr == nil {
				if st.Held {
					t.Fatal("lease still held after release")
				}
				// The next acquire succeeds at once, with a larger token.
				if l2 := acquire(t, s, 0, "b", ttl); l2.Token != 2 {
					t.Fatalf("acquire after release: token %d, want 2", l2.Token)
				}
				if err := s.ReleaseLease(t.Context(), 0, "a", l.Token); !errors.Is(err, store.ErrLeaseLost) {
					t.Fatalf("second release = %v, want ErrLeaseLost", err)
				}
			} else if tt.advance == 0 && !st.Held {
				t.Fatal("refused release dropped the lease")
			}
		})
	}
}

func TestLeasesState(t *testing.T) {
	s, _ := newFake(t, embedded.Config{})
	l := acquire(t, s, 1, "a", time.Minute)
	r := acquire(t, s, 2, "b", time.Minute)
	if err := s.ReleaseLease(t.Context(), 2, "b", r.Token); err != nil {
		t.Fatal(err)
	}
	got, err := s.Leases(t.Context(), []int{2, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.LeaseState{
		{Shard: 2, Lease: store.Lease{Shard: 2}, Token: 1},
		{Shard: 0},
		{Shard: 1, Held: true, Lease: l, Remaining: time.Minute, Token: 1},
		{Shard: 1, Held: true, Lease: l, Remaining: time.Minute, Token: 1},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Leases[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := s.Leases(t.Context(), []int{0, -1}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Leases with a negative shard = %v, want ErrInvalid", err)
	}
}

// TestLeaseTTLResolution: the store keeps TTLs in whole milliseconds, rounded
// up as redisstore does; AcquireLease hands back the TTL as asked.
func TestLeaseTTLResolution(t *testing.T) {
	s, clock := newFake(t, embedded.Config{})
	l := acquire(t, s, 0, "a", 1500*time.Microsecond)
	if l.TTL != 1500*time.Microsecond {
		t.Fatalf("AcquireLease TTL = %s, want the requested 1.5ms", l.TTL)
	}
	if st := leaseState(t, s, 0); st.Lease.TTL != 2*time.Millisecond || st.Remaining != 2*time.Millisecond {
		t.Fatalf("state = %+v, want TTL and Remaining 2ms", st)
	}
	clock.Advance(2 * time.Millisecond)
	if st := leaseState(t, s, 0); st.Held {
		t.Fatalf("lease held after its rounded TTL: %+v", st)
	}
}
