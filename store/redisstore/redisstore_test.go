package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/store/redisstore"
)

func TestNew(t *testing.T) {
	// New does not talk to the server, so a client of an address nobody
	// listens on is enough here.
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { c.Close() })
	cases := []struct {
		name    string
		client  redis.UniversalClient
		cfg     redisstore.Config
		wantErr bool
	}{
		{"ZeroConfig", c, redisstore.Config{}, false},
		{"Custom", c, redisstore.Config{LogRetention: 10, KeyPrefix: "tenant-1"}, false},
		{"NilClient", nil, redisstore.Config{}, true},
		{"NegativeRetention", c, redisstore.Config{LogRetention: -1}, true},
		{"PrefixWithOpeningBrace", c, redisstore.Config{KeyPrefix: "a{b"}, true},
		{"PrefixWithClosingBrace", c, redisstore.Config{KeyPrefix: "a}b"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.New(tc.client, tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New = %v, %v; want error %v", s, err, tc.wantErr)
			}
			if err == nil && s == nil {
				t.Fatal("New returned a nil Store and no error")
			}
		})
	}
}
