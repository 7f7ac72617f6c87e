package embedded_test

import (
	"testing"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
	"github.com/cpgw/cpgw/store/storetest"
)

// TestConformance runs the shared suite on the real clock (the suite sleeps
// through real TTLs), with a fresh store per subtest.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := embedded.New(embedded.Config{})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
