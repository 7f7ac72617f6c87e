package coordinator

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the coordinator's Prometheus series, all under
// cpgw_coordinator_.
type metrics struct {
	gatherer prometheus.Gatherer // nil when the Registerer cannot be gathered

	requestDuration   *prometheus.HistogramVec // route, method, code
	leaseAcquisitions prometheus.Counter
	leaseLosses       *prometheus.CounterVec // cause
	fencingRefusals   prometheus.Counter
	quorumMisses      prometheus.Counter
	tokenRegressions  prometheus.Counter
	batchSize         prometheus.Histogram
	queueDepth        *prometheus.GaugeVec // shard
	ownedShards       prometheus.Gauge
	attachedReplicas  prometheus.Gauge
}

// newMetrics registers the series on reg, or on a private registry (with the
// Go and process collectors) when reg is nil.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{}
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = r
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	const ns, sub = "cpgw", "coordinator"
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "http_request_duration_seconds",
		Help:    "Duration of HTTP requests by route pattern, method and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5ms .. ~4s
	}, []string{"route", "method", "code"})
	m.leaseAcquisitions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "lease_acquisitions_total",
		Help: "Shard leases acquired.",
	})
	m.leaseLosses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "lease_losses_total",
		Help: "Shard leases that ended, by cause: expired, lost, released, stopped, fenced.",
	}, []string{"cause"})
	m.fencingRefusals = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "fencing_refusals_total",
		Help: "Batches the store refused because their fencing token was stale.",
	})
	m.quorumMisses = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "quorum_not_reached_total",
		Help: "Applied writes answered 503 quorum_not_reached: fewer replicas acknowledged than their namespace asks for.",
	})
	m.tokenRegressions = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "fencing_counter_regressions_total",
		Help: "Lease grants that found a shard's fencing counter below a token known to have been granted (the store lost acknowledged state).",
	})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "batch_size",
		Help:    "Writes per store batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 .. 1024
	})
	m.queueDepth = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "queue_depth",
		Help: "Operations waiting for a shard's writer.",
	}, []string{"shard"})
	m.ownedShards = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "owned_shards",
		Help: "Shards this coordinator runs a writer for.",
	})
	m.attachedReplicas = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "attached_replicas",
		Help: "Replicas attached to the store's primary at the last count, which \"replicas\": \"majority\" namespaces resolve against (counted only while such writes arrive).",
	})
	for _, col := range []prometheus.Collector{
		m.requestDuration, m.leaseAcquisitions, m.leaseLosses, m.fencingRefusals,
		m.quorumMisses, m.tokenRegressions,
		m.batchSize, m.queueDepth, m.ownedShards, m.attachedReplicas,
	} {
		if err := reg.Register(col); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("%w: metrics already registered (share a registry with prometheus.WrapRegistererWith): %v", ErrConfig, err)
			}
			return nil, fmt.Errorf("%w: register metrics: %v", ErrConfig, err)
		}
	}
	return m, nil
}
