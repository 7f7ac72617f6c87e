package shards_test

import (
	"fmt"
	"log"

	"github.com/cpgw/cpgw/shards"
	"github.com/cpgw/cpgw/store"
)

func ExampleOf() {
	// The shard of a namespace depends only on its name and the shard count.
	fmt.Println(shards.Of("payments", 64))
	fmt.Println(shards.Of("payments", 1024))
	// Output:
	// 38
	// 806
}

func ExampleLayout_HomeRegion() {
	l, err := shards.NewLayout(64, []string{"us-east", "eu-west", "ap-south"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Regions)
	for s := range 4 {
		fmt.Printf("shard %d: home %s\n", s, l.HomeRegion(s))
	}

	// An unpinned namespace lives on shards.Of; a pinned one on a shard
	// homed in its region.
	s := l.ShardFor("payments", "")
	fmt.Printf("payments: shard %d, home %s\n", s, l.HomeRegion(s))
	s = l.ShardFor("payments", "eu-west")
	fmt.Printf("payments pinned to eu-west: shard %d, home %s\n", s, l.HomeRegion(s))
	// Output:
	// [ap-south eu-west us-east]
	// shard 0: home eu-west
	// shard 1: home us-east
	// shard 2: home ap-south
	// shard 3: home eu-west
	// payments: shard 38, home ap-south
	// payments pinned to eu-west: shard 9, home eu-west
}

func ExamplePlan() {
	l, err := shards.NewLayout(16, []string{"eu-west", "us-east"})
	if err != nil {
		log.Fatal(err)
	}
	live := []store.Member{
		{ID: "c1", Region: "us-east"}, {ID: "c2", Region: "us-east"},
		{ID: "c3", Region: "eu-west"}, {ID: "c4", Region: "eu-west"},
	}
	a := shards.Plan(l, live)
	for _, m := range live {
		fmt.Printf("%s (%s): %v\n", m.ID, m.Region, a.ShardsOf(m.ID))
	}

	// eu-west goes dark: its shards are spread over us-east.
	a = shards.Plan(l, live[:2])
	o, _ := a.Owner(0)
	fmt.Printf("shard 0 (home %s): %s, in home: %v\n", l.HomeRegion(0), o.ID, a.InHome(0))
	// Output:
	// c1 (us-east): [2 10]
	// c2 (us-east): [1 5 13]
	// c3 (eu-west): [3 7 8 14 15]
	// c4 (eu-west): [0 4 6 9 11 12]
	// shard 0 (home eu-west): c2, in home: false
}
