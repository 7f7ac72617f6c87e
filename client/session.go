package client

import "sync"

// session remembers the versions a Client wrote, for read-your-writes.
//
// It is kept per object because that is what minVersion means to a replica
// ("has not yet seen version N of the object"): a namespace-wide floor would
// push reads of untouched objects to the owner for no reason. Lists have no
// single object, so they use the highest version written in the namespace.
//
// A nil *session is a Client without WithSession: it remembers nothing.
type session struct {
	mu         sync.Mutex
	objects    map[objectKey]uint64
	namespaces map[string]uint64
}

type objectKey struct{ ns, name string }

func newSession() *session {
	return &session{objects: map[objectKey]uint64{}, namespaces: map[string]uint64{}}
}

// wrote records a successful write (or delete) of ns/name at version.
// Versions only grow, so responses arriving out of order keep the highest.
func (s *session) wrote(ns, name string, version uint64) {
	if s == nil || version == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := objectKey{ns, name}
	s.objects[k] = max(s.objects[k], version)
	s.namespaces[ns] = max(s.namespaces[ns], version)
}

// objectFloor is the minVersion a read of ns/name must send.
func (s *session) objectFloor(ns, name string) uint64 {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects[objectKey{ns, name}]
}

// namespaceFloor is the minVersion a list of ns must send.
func (s *session) namespaceFloor(ns string) uint64 {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.namespaces[ns]
}
