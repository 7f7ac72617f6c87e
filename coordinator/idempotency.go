package coordinator

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"sync"
)

// fingerprintVersion starts every fingerprint, so the scheme can change
// without a new request matching an old record by accident.
const fingerprintVersion = "cpgw-idem-1"

// fingerprint identifies a write for its idempotency record: the hex SHA-256
// of the method, namespace, name, condition (If-Match version, If-None-Match)
// and body, each prefixed with its length so no two requests can produce the
// same byte stream. Conditions enter in parsed form and the body compacted,
// so requests that differ only in spelling share a fingerprint.
func fingerprint(method, namespace, name string, ifVersion uint64, ifAbsent bool, body []byte) string {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(fingerprintVersion))
	field([]byte(method))
	field([]byte(namespace))
	field([]byte(name))
	field([]byte(strconv.FormatUint(ifVersion, 10)))
	field([]byte(strconv.FormatBool(ifAbsent)))
	field(body)
	return hex.EncodeToString(h.Sum(nil))
}

// inflightKey scopes an idempotency key to its namespace, as the store does.
type inflightKey struct{ namespace, key string }

// inflight is the set of idempotency keys whose write is queued or being
// applied on this coordinator. A repeat arriving meanwhile answers 409: it
// cannot be replayed yet, and applying it would only be refused or replayed
// by the store later.
type inflight struct {
	mu   sync.Mutex
	keys map[inflightKey]struct{}
}

// add claims k; it reports false if k is already in flight.
func (s *inflight) add(k inflightKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k]; ok {
		return false
	}
	if s.keys == nil {
		s.keys = make(map[inflightKey]struct{})
	}
	s.keys[k] = struct{}{}
	return true
}

func (s *inflight) remove(k inflightKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, k)
}
