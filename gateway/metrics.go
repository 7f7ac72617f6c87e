package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sony/gobreaker/v2"
)

// metrics are the gateway's Prometheus instruments. Every name starts with
// cpgw_gateway_.
type metrics struct {
	// requests: route is the chi pattern ("unmatched" for 404s), so the
	// label set stays small whatever clients send.
	requests *prometheus.HistogramVec // route, method, code, consistency
	// forwards counts requests sent on to coordinators by what came back.
	forwards *prometheus.CounterVec // kind (write, read, namespace), outcome
	// retries counts retried attempts by why the previous one failed.
	retries *prometheus.CounterVec // reason
	// breakerState is 0 closed, 1 half-open, 2 open (gobreaker's State).
	breakerState *prometheus.GaugeVec // coordinator
	// reads counts reads by who served them and why.
	reads *prometheus.CounterVec // served (local, owner), reason
	// refreshes counts shard-map loads.
	refreshes *prometheus.CounterVec // trigger (start, tick, demand), result

	all []prometheus.Collector // everything above, plus the gauge funcs

	hot hotPath // resolved children of requests and reads
}

// gaugeReaders are what the gauges read when scraped; a nil one reads as
// zero (and an unknown staleness or map age as NaN).
type gaugeReaders struct {
	staleness func() (time.Duration, bool) // the replica's staleness bound
	mapAge    func() time.Duration         // negative before the first load
	held      func() int                   // requests held by failover buffering
	shards    func() (total, unowned int)  // in the last shard map loaded
}

func (r *gaugeReaders) fill() {
	if r.staleness == nil {
		r.staleness = func() (time.Duration, bool) { return 0, false }
	}
	if r.mapAge == nil {
		r.mapAge = func() time.Duration { return -1 }
	}
	if r.held == nil {
		r.held = func() int { return 0 }
	}
	if r.shards == nil {
		r.shards = func() (int, int) { return 0, 0 }
	}
}

// newMetrics creates the instruments, with gauges that read from r when
// scraped. Register them once what the gauges read exists: a scrape may
// come at any moment after.
func newMetrics(r gaugeReaders) *metrics {
	r.fill()
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cpgw_gateway_request_duration_seconds",
			Help:    "Time to answer a request, by route pattern, method, status code and consistency (local, strong, none).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code", "consistency"}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpgw_gateway_forwards_total",
			Help: "Requests forwarded to shard owners, by kind (write, read, namespace) and outcome (relayed, unavailable, no_owner, held_full: the failover queue was full, canceled).",
		}, []string{"kind", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpgw_gateway_forward_retries_total",
			Help: "Forwarding retries, by the reason the previous attempt failed (connect, breaker_open, misdirected, no_owner, no_owner_known, unanswered, in_flight).",
		}, []string{"reason"}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cpgw_gateway_breaker_state",
			Help: "Circuit breaker state per coordinator address: 0 closed, 1 half-open, 2 open.",
		}, []string{"coordinator"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpgw_gateway_reads_total",
			Help: "Reads by who served them (local, owner) and why (within_bound, strong, stale, unknown_bound, min_version, replica_error, not_loaded).",
		}, []string{"served", "reason"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpgw_gateway_shard_map_refreshes_total",
			Help: "Shard map and namespace settings loads, by trigger (start, tick, demand) and result (ok, error).",
		}, []string{"trigger", "result"}),
	}
	stalenessGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cpgw_gateway_replica_staleness_seconds",
		Help: "Upper bound on the staleness of the region's replica; NaN while unknown (local reads then go to the owner).",
	}, func() float64 {
		if d, ok := r.staleness(); ok {
			return d.Seconds()
		}
		return math.NaN()
	})
	ageGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cpgw_gateway_shard_map_age_seconds",
		Help: "Time since the shard map was last loaded successfully; NaN before the first load.",
	}, func() float64 {
		if d := r.mapAge(); d >= 0 {
			return d.Seconds()
		}
		return math.NaN()
	})
	heldGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cpgw_gateway_failover_held_requests",
		Help: "Requests held waiting for a reachable shard owner (failover buffering).",
	}, func() float64 { return float64(r.held()) })
	shardsGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cpgw_gateway_shards",
		Help: "Shards in the cluster's layout, as of the last shard map loaded; 0 before the first load.",
	}, func() float64 { total, _ := r.shards(); return float64(total) })
	unownedGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cpgw_gateway_shards_without_owner",
		Help: "Shards whose lease nobody held in the last shard map loaded: their requests wait for an owner (failover buffering), then get 503 no_owner.",
	}, func() float64 { _, unowned := r.shards(); return float64(unowned) })
	m.hot = newHotPath(m.requests, m.reads)
	m.all = []prometheus.Collector{
		m.requests, m.forwards, m.retries, m.breakerState, m.reads, m.refreshes,
		stalenessGauge, ageGauge, heldGauge, shardsGauge, unownedGauge,
	}
	return m
}

// register registers every instrument with reg. On failure it unregisters
// what it had registered, so a caller can retry with another registry.
func (m *metrics) register(reg prometheus.Registerer) error {
	for i, c := range m.all {
		if err := reg.Register(c); err != nil {
			for _, done := range m.all[:i] {
				reg.Unregister(done)
			}
			return err
		}
	}
	return nil
}

// newPrivateRegistry is the registry of a gateway not given one: its own
// metrics plus the Go runtime and process collectors a scrape expects.
func newPrivateRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// setBreakerState records a breaker's state.
func (m *metrics) setBreakerState(addr string, s gobreaker.State) {
	m.breakerState.WithLabelValues(addr).Set(float64(s))
}

// forgetBreaker drops the gauge of a coordinator that left the map, so
// the label set does not grow with every coordinator ever seen.
func (m *metrics) forgetBreaker(addr string) {
	m.breakerState.DeleteLabelValues(addr)
}

// isAlreadyRegistered reports a duplicate registration, the usual mistake
// when two gateways share a registry.
func isAlreadyRegistered(err error) bool {
	var are prometheus.AlreadyRegisteredError
	return errors.As(err, &are)
}

// slogPrinter lets promhttp report scrape errors to the gateway's log.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics: " + fmt.Sprint(v...)) }
