package shards

import (
	"context"
	"fmt"
	"testing"

	"github.com/cpgw/cpgw/store"
)

var sink int

func BenchmarkOf(b *testing.B) {
	for b.Loop() {
		sink += Of("payments-eu-customers", 1024)
	}
}

func BenchmarkHomeRegion(b *testing.B) {
	l := mustLayout(b, 1024, "ap-south", "eu-west", "us-east")
	s := 0
	for b.Loop() {
		sink += len(l.HomeRegion(s))
		s = (s + 1) % 1024
	}
}

func BenchmarkShardForPinned(b *testing.B) {
	for _, shards := range []int{64, 1024} {
		b.Run(fmt.Sprint(shards), func(b *testing.B) {
			l := mustLayout(b, shards, "ap-south", "eu-west", "us-east")
			for b.Loop() {
				sink += l.ShardFor("payments-eu-customers", "eu-west")
			}
		})
	}
}

func BenchmarkMapLookupPinned(b *testing.B) {
	l := mustLayout(b, 1024, "ap-south", "eu-west", "us-east")
	m, err := Load(context.Background(), table(new(int), nil), l)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		sink += m.Lookup("payments-eu-customers", "eu-west").Shard
	}
}

func BenchmarkPlan1024Shards30Members(b *testing.B) {
	l := mustLayout(b, 1024, "ap-south", "eu-west", "us-east")
	var live []store.Member
	for _, r := range l.Regions {
		for i := range 10 {
			id := fmt.Sprintf("coord-%s-%d", r, i)
			live = append(live, store.Member{ID: id, Region: r, Address: "https://" + id + ":7443"})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		sink += Plan(l, live).Load(live[0].ID)
	}
}
