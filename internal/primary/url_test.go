package primary

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitURL(t *testing.T) {
	tests := []struct {
		name, url string
		first     string   // the URL for redis.ParseURL
		hosts     []string // nil for a URL left to redis.ParseURL
		wantErr   string
	}{
		{name: "one host is unchanged", url: "redis://:pw@10.0.0.1:6379/0",
			first: "redis://:pw@10.0.0.1:6379/0", hosts: []string{"10.0.0.1:6379"}},
		{name: "several hosts", url: "redis://:pw@10.0.0.1:6379,10.0.0.2:6380/2",
			first: "redis://:pw@10.0.0.1:6379/2", hosts: []string{"10.0.0.1:6379", "10.0.0.2:6380"}},
		{name: "user, query, TLS, default port", url: "rediss://cpgw:p%40ss@redis-a,redis-b:7000?dial_timeout=2s",
			first: "rediss://cpgw:p%40ss@redis-a?dial_timeout=2s", hosts: []string{"redis-a:6379", "redis-b:7000"}},
		{name: "an @ in the password", url: "redis://u:p@ss@a:1,b:2",
			first: "redis://u:p@ss@a:1", hosts: []string{"a:1", "b:2"}},
		{name: "IPv6", url: "redis://[::1]:6379,[::2]:6380/0",
			first: "redis://[::1]:6379/0", hosts: []string{"[::1]:6379", "[::2]:6380"}},
		{name: "another scheme is left alone", url: "unix:///run/redis.sock", first: "unix:///run/redis.sock"},
		{name: "an empty host", url: "redis://:secret@a:1,,b:2/0", wantErr: "host 2 of the host list is empty"},
		{name: "a trailing comma", url: "redis://a:1,", wantErr: "host 2 of the host list is empty"},
		{name: "a bad host", url: "redis://a:1,b:x:y", wantErr: "host 2 of the host list is not host[:port]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, hosts, err := SplitURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SplitURL(%q) error %v; want %q", tt.url, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error %q shows the password", err)
				}
				return
			}
			if err != nil || first != tt.first || !slices.Equal(hosts, tt.hosts) {
				t.Fatalf("SplitURL(%q) = %q, %q, %v; want %q, %q", tt.url, first, hosts, err, tt.first, tt.hosts)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ url, want string }{
		{"redis://:secret@10.0.0.1:6379/0", "redis://:xxxxx@10.0.0.1:6379/0"},
		{"redis://:secret@10.0.0.1:6379,10.0.0.2:6379/0", "redis://:xxxxx@10.0.0.1:6379,10.0.0.2:6379/0"},
		{"rediss://u:secret@[::1]:1,[::2]:2/3?x=1", "rediss://u:xxxxx@[::1]:1,[::2]:2/3?x=1"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.url); got != tt.want {
			t.Errorf("RedactURL(%q) = %q; want %q", tt.url, got, tt.want)
		}
	}
}
