package embedded_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/cpgw/cpgw/store"
	"github.com/cpgw/cpgw/store/embedded"
)

func benchmarkApply(b *testing.B, size int) {
	s, err := embedded.New(embedded.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tok := acquire(b, s, 0, "bench", time.Hour).Token
	value := []byte(`{"limit":100,"currency":"EUR","owner":"payments"}`)
	// A fixed set of names keeps the object map at a steady size, so the
	// benchmark measures Apply rather than map growth.
	names := make([]string, 1024)
	for i := range names {
		names[i] = "obj-" + strconv.Itoa(i)
	}
	batch := store.Batch{Shard: 0, Token: tok, Now: t0, Writes: make([]store.Write, size)}
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		batch.Now = time.Now()
		for j := range batch.Writes {
			batch.Writes[j] = store.Write{Op: store.OpPut, Namespace: "bench", Name: names[i%len(names)], Value: value}
			i++
		}
		if _, err := s.Apply(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/write")
}

func BenchmarkApply(b *testing.B)        { benchmarkApply(b, 1) }
func BenchmarkApplyBatch64(b *testing.B) { benchmarkApply(b, 64) }
