package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/sony/gobreaker/v2"
)

// errCoordinatorFailed marks a response the breaker counts as a failure
// although it is relayed to the client: 500, 502 and 504 say the
// coordinator itself is unwell. 503s are considered answers (no owner,
// store unavailable, quorum not reached) from a coordinator that works, and
// count as successes, so a store outage does not trip every breaker.
var errCoordinatorFailed = errors.New("gateway: coordinator failed")

// countsAsFailure reports whether a coordinator status counts against its
// breaker.
func countsAsFailure(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// breaker guards one coordinator address.
type breaker = gobreaker.CircuitBreaker[*http.Response]

// breakers keeps one circuit breaker per coordinator address, created on
// first use and dropped when the address leaves the shard map.
type breakers struct {
	cfg     BreakerConfig
	metrics *metrics
	log     *slog.Logger

	// mu is read-locked on every forward: an exclusive lock there was
	// contended by every concurrent request.
	mu     sync.RWMutex
	byAddr map[string]*breaker
}

func newBreakers(cfg BreakerConfig, m *metrics, log *slog.Logger) *breakers {
	return &breakers{cfg: cfg, metrics: m, log: log, byAddr: make(map[string]*breaker)}
}

// get returns the breaker of addr, creating it closed.
func (b *breakers) get(addr string) *breaker {
	b.mu.RLock()
	cb, ok := b.byAddr[addr]
	b.mu.RUnlock()
	if ok {
		return cb
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if cb, ok := b.byAddr[addr]; ok { // made meanwhile
		return cb
	}
	failures := b.cfg.ConsecutiveFailures
	cb = gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
		Name:        addr,
		MaxRequests: 1, // one probe when half-open
		Timeout:     b.cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// The client hanging up says nothing about the coordinator.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			b.metrics.setBreakerState(name, to)
			b.log.Warn("coordinator circuit breaker changed state", "coordinator", name, "from", from.String(), "to", to.String())
		},
	})
	b.byAddr[addr] = cb
	b.metrics.setBreakerState(addr, gobreaker.StateClosed)
	return cb
}

// retain drops the breakers of addresses not in keep. A coordinator that
// comes back later starts with a closed breaker, which is what a new lease
// holder deserves.
func (b *breakers) retain(keep map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for addr := range b.byAddr {
		if !keep[addr] {
			delete(b.byAddr, addr)
			b.metrics.forgetBreaker(addr)
		}
	}
}

// retainMap keeps the breakers of the addresses of a snapshot's owners.
func (b *breakers) retainMap(s *snapshot) {
	keep := make(map[string]bool)
	for _, e := range s.m.Entries() {
		if e.Address != "" {
			keep[e.Address] = true
		}
	}
	b.retain(keep)
}
