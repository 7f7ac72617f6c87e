package authz

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
)

// decodeLines decodes JSON lines of audit records, strictly.
func decodeLines(t *testing.T, b []byte) []Record {
	t.Helper()
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var r Record
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func TestAuditor(t *testing.T) {
	clock := clockwork.NewFakeClockAt(t0)
	var buf bytes.Buffer
	a := NewAuditor(&buf, clock)
	r := Record{Subject: "alice", AuthMethod: MethodJWT, Verb: "put", Resource: "objects", Namespace: "ns", Name: "o",
		Outcome: OutcomeAllowed, Status: 201, FencingToken: 3, RequestID: "req-1", Region: "eu-west"}
	if err := a.Record(r); err != nil {
		t.Fatal(err)
	}
	given := t0.Add(-time.Hour)
	if err := a.Record(Record{Time: given, Verb: "get", Resource: "shards", Outcome: OutcomeUnauthenticated, Status: 401, Reason: "no credentials"}); err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-11-22T10:00:00Z","subject":"alice","authMethod":"jwt","verb":"put","resource":"objects","namespace":"ns","name":"o","outcome":"allowed","status":201,"fencingToken":3,"requestId":"req-1","region":"eu-west"}
{"time":"2026-11-22T09:00:00Z","verb":"get","resource":"shards","outcome":"unauthenticated","status":401,"reason":"no credentials"}
`
	if buf.String() != want {
		t.Fatalf("audit output:\n%s\nwant:\n%s", buf.String(), want)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(r); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Record after Close: %v, want os.ErrClosed", err)
	}

	var nilAuditor *Auditor
	if err := nilAuditor.Record(r); err != nil {
		t.Fatalf("nil Auditor: %v", err)
	}
	if err := nilAuditor.Close(); err != nil {
		t.Fatalf("nil Auditor Close: %v", err)
	}
}

// Concurrent records are whole lines, one Write each.
func TestAuditorConcurrent(t *testing.T) {
	w := &countingWriter{}
	a := NewAuditor(w, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if err := a.Record(Record{Verb: "put", Resource: "objects", Outcome: OutcomeAllowed, Status: 200, Name: strings.Repeat("x", i*100)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if w.writes != 400 || len(decodeLines(t, w.buf.Bytes())) != 400 {
		t.Fatalf("%d writes, want 400 lines of one write each", w.writes)
	}
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	if !bytes.HasSuffix(p, []byte("\n")) || bytes.Count(p, []byte("\n")) != 1 {
		return 0, errors.New("not one line")
	}
	return w.buf.Write(p)
}

func TestOpenAuditor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	clock := clockwork.NewFakeClockAt(t0)
	for i := range 2 { // the second open appends
		a, err := OpenAuditor(path, clock)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Record(Record{Verb: "delete", Resource: "objects", Outcome: OutcomeDenied, Status: 403, Subject: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	got := decodeLines(t, b)
	want := []Record{
		{Time: t0, Verb: "delete", Resource: "objects", Outcome: OutcomeDenied, Status: 403, Subject: "a"},
		{Time: t0, Verb: "delete", Resource: "objects", Outcome: OutcomeDenied, Status: 403, Subject: "b"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("records %+v, want %+v", got, want)
	}
}
