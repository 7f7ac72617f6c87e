package authz

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cpgw/cpgw/internal/files"
	"github.com/cpgw/cpgw/internal/logbuf"
)

func TestPolicyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(doc string) {
		t.Helper()
		if err := files.WriteAtomic(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const readers = "roles:\n  - name: r\n    rules:\n      - {verbs: [get], resources: [objects], namespaces: [\"*\"]}\nbindings:\n  - role: r\n    subjects: [\"group:readers\"]\n"
	writers := strings.Replace(readers, "[get]", "[get, put]", 1)
	reader := Identity{Subject: "a", Groups: []string{"readers"}, Method: MethodJWT}
	put := Request{Verb: VerbPut, Resource: ResourceObjects, Namespace: "x", Name: "y"}
	get := Request{Verb: VerbGet, Resource: ResourceObjects, Namespace: "x", Name: "y"}

	if _, err := NewPolicyFile(path, time.Second, nil, nil); err == nil {
		t.Fatal("NewPolicyFile of a missing file: no error")
	}
	write("roles: []\n")
	if _, err := NewPolicyFile(path, time.Second, nil, nil); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("NewPolicyFile of a bad file: %v, want ErrInvalidPolicy", err)
	}
	if _, err := NewPolicyFile(path, -time.Second, nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative interval: %v, want ErrInvalidConfig", err)
	}

	write(readers)
	clock := clockwork.NewFakeClockAt(t0)
	log := &logbuf.Buffer{}
	f, err := NewPolicyFile(path, time.Second, clock, slog.New(slog.NewTextHandler(log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Allowed(reader, get) || f.Allowed(reader, put) {
		t.Fatal("the loaded policy is not the file's")
	}

	write(writers)
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if !f.Allowed(reader, put) {
		t.Fatal("Reload did not pick up the new policy")
	}
	write("roles: [") // a bad edit keeps the policy
	if err := f.Reload(); !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Reload of a bad file: %v, want ErrInvalidPolicy naming the file", err)
	}
	if !f.Allowed(reader, put) {
		t.Fatal("a bad file replaced the policy")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	waitFor(t, "the bad file is logged", func() bool { return strings.Contains(log.String(), "policy reload failed") })
	if !f.Allowed(reader, put) {
		t.Fatal("Run replaced the policy with a bad file")
	}
	write(readers)
	waitFor(t, "Run loads the fixed file", func() bool {
		clock.Advance(time.Second)
		return !f.Allowed(reader, put)
	})
	if !f.Allowed(reader, get) {
		t.Fatal("the reloaded policy is not the file's")
	}

	var nilFile *PolicyFile
	if nilFile.Allowed(reader, get) {
		t.Error("a nil PolicyFile allowed a request")
	}
	_ = os.Remove(path)
}
