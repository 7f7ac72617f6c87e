package devcluster

import (
	"strconv"
	"time"

	"github.com/cpgw/cpgw/coordinator"
)

func strconvU(v uint64) string { return strconv.FormatUint(v, 10) }

// shortLeases makes owner changes quick enough for tests.
func shortLeases(cfg *coordinator.Config) {
	cfg.Lease.TTL = time.Second
	cfg.Placement.Interval = 100 * time.Millisecond
	cfg.Placement.Grace = time.Second
	cfg.Placement.Settle = 300 * time.Millisecond
}
