package coordinator_test

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpgw/cpgw/coordinator"
	"github.com/cpgw/cpgw/store"
)

func TestConfigValidate(t *testing.T) {
	valid := func() coordinator.Config {
		c := coordinator.DefaultConfig()
		c.ID, c.Region, c.Advertise = "c1", "us-east", "http://10.0.0.1:7000"
		return c
	}
	cases := []struct {
		name   string
		mod    func(*coordinator.Config)
		wantOK bool
	}{
		{"defaults", func(*coordinator.Config) {}, true},
		{"zero fields default", func(c *coordinator.Config) {
			*c = coordinator.Config{ID: c.ID, Region: c.Region, Advertise: c.Advertise}
		}, true},
		{"no id", func(c *coordinator.Config) { c.ID = "" }, false},
		{"no region", func(c *coordinator.Config) { c.Region = "" }, false},
		{"no advertise", func(c *coordinator.Config) { c.Advertise = "" }, false},
		{"advertise not a url", func(c *coordinator.Config) { c.Advertise = "10.0.0.1:7000" }, false},
		{"advertise https", func(c *coordinator.Config) { c.Advertise = "https://c1.internal" }, true},
		{"too many shards", func(c *coordinator.Config) { c.Shards = 1 << 20 }, false},
		{"batch above store limit", func(c *coordinator.Config) { c.MaxBatch = store.MaxBatch + 1 }, false},
		{"negative queue", func(c *coordinator.Config) { c.QueueDepth = -1 }, false},
		{"negative timeout", func(c *coordinator.Config) { c.StoreTimeout = -time.Second }, false},
		{"negative grace", func(c *coordinator.Config) { c.Placement.Grace = -time.Second }, false},
		{"lease ttl too short", func(c *coordinator.Config) { c.Lease.TTL = 5 * time.Millisecond }, false},
		{"lease drift too large", func(c *coordinator.Config) { c.Lease.MaxDrift = 0.6 }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid()
			c.mod(&cfg)
			err := cfg.Validate()
			if c.wantOK && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !c.wantOK && !errors.Is(err, coordinator.ErrConfig) {
				t.Fatalf("Validate = %v, want ErrConfig", err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	st := embeddedBackend.open(t)
	cfg := testConfig("c1", "us-east", "http://c1.invalid")
	if _, err := coordinator.New(nil, cfg); !errors.Is(err, coordinator.ErrConfig) {
		t.Errorf("New(nil store) = %v", err)
	}
	bad := cfg
	bad.ID = ""
	if _, err := coordinator.New(st, bad); !errors.Is(err, coordinator.ErrConfig) {
		t.Errorf("New(no id) = %v", err)
	}

	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	c, err := coordinator.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Gatherer() != prometheus.Gatherer(reg) {
		t.Error("Gatherer is not the configured registry")
	}
	if _, err := coordinator.New(st, cfg); !errors.Is(err, coordinator.ErrConfig) {
		t.Errorf("second coordinator on one registry: %v", err)
	}
	// Wrapped with a label each, coordinators can share a registry.
	shared := prometheus.NewRegistry()
	for _, id := range []string{"c1", "c2"} {
		cfg.Registerer = prometheus.WrapRegistererWith(prometheus.Labels{"coordinator": id}, shared)
		if _, err := coordinator.New(st, cfg); err != nil {
			t.Errorf("coordinator %s on a wrapped shared registry: %v", id, err)
		}
	}
}
