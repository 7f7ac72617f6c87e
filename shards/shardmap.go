package shards

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// LeaseReader is the part of the store a shard map is read from
// (store.Store satisfies it).
type LeaseReader interface {
	// Leases reports the lease state of each shard, in the order asked, in
	// one round trip.
	Leases(ctx context.Context, shards []int) ([]store.LeaseState, error)
}

// Entry is one shard's row in the shard map: who holds its lease, where, and
// under which fencing token.
type Entry struct {
	Shard int
	// Owner, Region and Address describe the lease holder; all empty when
	// the shard's lease is not held.
	Owner   string
	Region  string
	Address string
	// FencingToken is the shard's current token, held or not.
	FencingToken fencing.Token
	// LeaseRemaining is the lease's server-side time left when the map was
	// read (0 when not held). It only shrinks afterwards; a map is a snapshot.
	LeaseRemaining time.Duration
}

// entryJSON is Entry's wire form at GET /v1/shards.
type entryJSON struct {
	Shard            int           `json:"shard"`
	Owner            string        `json:"owner"`
	Region           string        `json:"region"`
	Address          string        `json:"address"`
	FencingToken     fencing.Token `json:"fencingToken"`
	LeaseRemainingMs int64         `json:"leaseRemainingMs"`
}

// MarshalJSON writes the entry as GET /v1/shards serves it, with the time
// left on the lease as whole milliseconds (rounded down, never negative).
func (e Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(entryJSON{
		Shard:            e.Shard,
		Owner:            e.Owner,
		Region:           e.Region,
		Address:          e.Address,
		FencingToken:     e.FencingToken,
		LeaseRemainingMs: max(e.LeaseRemaining.Milliseconds(), 0),
	})
}

// Map is a snapshot of the shard map: one Entry per shard of a Layout, read
// from the store's leases. It remembers the layout, so it can resolve a
// namespace to its entry. A Map is immutable and safe for concurrent use.
type Map struct {
	layout  Layout
	entries []Entry
	homed   map[string][]int // region → shards homed there, for Lookup
}

// Load reads the lease of every shard of l with a single Leases call and
// returns the shard map.
func Load(ctx context.Context, r LeaseReader, l Layout) (Map, error) {
	if l.Shards < 1 || l.Shards > MaxShards {
		return Map{}, fmt.Errorf("shards: load map: shard count %d out of range 1..%d", l.Shards, MaxShards)
	}
	shards := make([]int, l.Shards)
	for s := range shards {
		shards[s] = s
	}
	states, err := r.Leases(ctx, shards)
	if err != nil {
		return Map{}, fmt.Errorf("shards: load map: %w", err)
	}
	if len(states) != len(shards) {
		return Map{}, fmt.Errorf("shards: load map: asked for %d leases, got %d", len(shards), len(states))
	}
	m := Map{
		layout:  Layout{Shards: l.Shards, Regions: slices.Clone(l.Regions)},
		entries: make([]Entry, l.Shards),
		homed:   make(map[string][]int, len(l.Regions)),
	}
	for s, st := range states {
		if st.Shard != s {
			return Map{}, fmt.Errorf("shards: load map: lease %d is for shard %d", s, st.Shard)
		}
		e := Entry{Shard: s, FencingToken: st.Token}
		if st.Held {
			e.Owner, e.Region, e.Address = st.Lease.Owner, st.Lease.Region, st.Lease.Address
			e.LeaseRemaining = max(st.Remaining, 0)
		}
		m.entries[s] = e
	}
	for s, r := range m.layout.homes() {
		if r >= 0 {
			name := m.layout.Regions[r]
			m.homed[name] = append(m.homed[name], s)
		}
	}
	return m, nil
}

// Layout returns the layout the map was loaded for.
func (m Map) Layout() Layout {
	return Layout{Shards: m.layout.Shards, Regions: slices.Clone(m.layout.Regions)}
}

// Entry returns a shard's entry, and false for a shard outside the layout.
func (m Map) Entry(shard int) (Entry, bool) {
	if shard < 0 || shard >= len(m.entries) {
		return Entry{}, false
	}
	return m.entries[shard], true
}

// Entries returns every entry in shard order, in a new slice: the body of
// GET /v1/shards.
func (m Map) Entries() []Entry { return slices.Clone(m.entries) }

// Lookup returns the entry of the shard that holds a namespace, as
// Layout.ShardFor resolves it (homeRegion "" for an unpinned namespace). On
// the zero Map it returns the zero Entry.
func (m Map) Lookup(namespace, homeRegion string) Entry {
	if len(m.entries) == 0 {
		return Entry{}
	}
	s := Of(namespace, m.layout.Shards)
	if homeRegion != "" {
		s = m.layout.pick(namespace, m.homed[homeRegion])
	}
	return m.entries[s]
}
