package gateway

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Label lookups on the request path. WithLabelValues hashes every label
// value and takes the vector's lock on each call, and the status code had
// to be formatted first; the children it returns never change (these
// vectors are never Reset or Deleted from), so they are resolved once per
// label set and kept here.

// childCache maps a label set to its resolved child. Reads are one atomic
// load and a map lookup, with no lock and no allocation; a label set seen
// for the first time copies the map (label sets are few: route patterns,
// methods, statuses, reasons).
type childCache[K comparable, V any] struct {
	resolve func(K) V

	mu sync.Mutex // serialises inserts
	m  atomic.Pointer[map[K]V]
}

func newChildCache[K comparable, V any](resolve func(K) V) *childCache[K, V] {
	return &childCache[K, V]{resolve: resolve}
}

func (c *childCache[K, V]) get(k K) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	v := c.resolve(k)
	n := make(map[K]V, 1+lenOf(old))
	if old != nil {
		for kk, vv := range *old {
			n[kk] = vv
		}
	}
	n[k] = v
	c.m.Store(&n)
	return v
}

func lenOf[K comparable, V any](m *map[K]V) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// requestLabels are the labels of cpgw_gateway_request_duration_seconds.
type requestLabels struct {
	route, method string
	code          int
	consistency   string
}

// readLabels are the labels of cpgw_gateway_reads_total.
type readLabels struct{ served, reason string }

// hotPath holds the resolved children the request path uses.
type hotPath struct {
	requests *childCache[requestLabels, prometheus.Observer]
	reads    *childCache[readLabels, prometheus.Counter]
}

func newHotPath(requests *prometheus.HistogramVec, reads *prometheus.CounterVec) hotPath {
	return hotPath{
		requests: newChildCache(func(l requestLabels) prometheus.Observer {
			return requests.WithLabelValues(l.route, l.method, strconv.Itoa(l.code), l.consistency)
		}),
		reads: newChildCache(func(l readLabels) prometheus.Counter {
			return reads.WithLabelValues(l.served, l.reason)
		}),
	}
}

// request is the duration histogram of one label set.
func (m *metrics) request(route, method string, code int, consistency string) prometheus.Observer {
	return m.hot.requests.get(requestLabels{route: route, method: method, code: code, consistency: consistency})
}

// localWithinBound counts a read the replica answered.
func (m *metrics) localWithinBound() prometheus.Counter {
	return m.hot.reads.get(readLabels{served: "local", reason: "within_bound"})
}

// ownerRead counts a read sent to the owner, by reason.
func (m *metrics) ownerRead(reason string) prometheus.Counter {
	return m.hot.reads.get(readLabels{served: "owner", reason: reason})
}
