package embedded

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cpgw/cpgw/store"
)

// GetNamespace implements store.Store.
func (s *Store) GetNamespace(ctx context.Context, name string) (store.Namespace, error) {
	if !store.ValidName(name) {
		return store.Namespace{}, invalid("bad namespace name %q", name)
	}
	if err := s.lock(ctx); err != nil {
		return store.Namespace{}, err
	}
	defer s.mu.Unlock()
	ns, ok := s.namespaces[name]
	if !ok {
		return store.Namespace{}, fmt.Errorf("%w: namespace %s", store.ErrNotFound, name)
	}
	return ns, nil
}

// PutNamespace implements store.Store. ns.Version is ignored: the stored
// version is always the previous one plus one.
func (s *Store) PutNamespace(ctx context.Context, ns store.Namespace, ifVersion uint64) (store.Namespace, error) {
	if err := ns.Validate(); err != nil {
		return store.Namespace{}, err
	}
	if err := s.lock(ctx); err != nil {
		return store.Namespace{}, err
	}
	defer s.mu.Unlock()
	// An absent namespace has version 0, so "create only" and "update from
	// version n" are the same comparison.
	if cur := s.namespaces[ns.Name].Version; cur != ifVersion {
		return store.Namespace{}, fmt.Errorf("%w: namespace %s is at version %d, not %d",
			store.ErrPrecondition, ns.Name, cur, ifVersion)
	}
	ns.Version = ifVersion + 1
	// Whole milliseconds, rounded up, as redisstore keeps it.
	ns.Durability.Timeout = msTTL(ns.Durability.Timeout)
	s.namespaces[ns.Name] = ns
	s.publishLocked(mutation{kind: mutNamespace, namespace: ns})
	return ns, nil
}

// Namespaces implements store.Store.
func (s *Store) Namespaces(ctx context.Context) ([]store.Namespace, error) {
	if err := s.lock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]store.Namespace, 0, len(s.namespaces))
	for _, ns := range s.namespaces {
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b store.Namespace) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
