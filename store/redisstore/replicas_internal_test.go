package redisstore

import (
	"errors"
	"strings"
	"testing"
)

// Replies to INFO replication captured from redis-server 7.0.15 (CRLF line
// ends as sent), with 0, 1 and 2 online replicas, with a third replica
// still waiting for its first copy (state=wait_bgsave), and from a replica.
const (
	infoNoReplica = "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n" +
		"master_replid:9ec3265522a5a4dbfd0c655bb0719280067d0e30\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n" +
		"master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\n" +
		"repl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n"
	infoOneReplica = "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n" +
		"slave0:ip=127.0.0.1,port=17002,state=online,offset=0,lag=1\r\n" +
		"master_failover_state:no-failover\r\nmaster_replid:c3a8021e923f61c87c1f513d3c8c346030255d94\r\n" +
		"master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\n" +
		"repl_backlog_active:1\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\nrepl_backlog_histlen:0\r\n"
	infoTwoReplicas = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" +
		"slave0:ip=127.0.0.1,port=17002,state=online,offset=0,lag=0\r\n" +
		"slave1:ip=127.0.0.1,port=17003,state=online,offset=0,lag=0\r\n" +
		"master_failover_state:no-failover\r\nmaster_replid:c3a8021e923f61c87c1f513d3c8c346030255d94\r\n" +
		"master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\n" +
		"repl_backlog_active:1\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\nrepl_backlog_histlen:0\r\n"
	infoOneWaiting = "# Replication\r\nrole:master\r\nconnected_slaves:3\r\n" +
		"slave0:ip=127.0.0.1,port=17002,state=online,offset=0,lag=0\r\n" +
		"slave1:ip=127.0.0.1,port=17003,state=online,offset=0,lag=0\r\n" +
		"slave2:ip=127.0.0.1,port=17004,state=wait_bgsave,offset=0,lag=0\r\n" +
		"master_failover_state:no-failover\r\nmaster_replid:c3a8021e923f61c87c1f513d3c8c346030255d94\r\n" +
		"master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\n" +
		"repl_backlog_active:1\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\nrepl_backlog_histlen:0\r\n"
	infoOfReplica = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:17001\r\nmaster_link_status:up\r\n" +
		"master_last_io_seconds_ago:4\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:0\r\nslave_repl_offset:0\r\n" +
		"slave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\n" +
		"master_failover_state:no-failover\r\nmaster_replid:c3a8021e923f61c87c1f513d3c8c346030255d94\r\n" +
		"master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\n" +
		"repl_backlog_active:1\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:1\r\nrepl_backlog_histlen:0\r\n"
)

func TestParseReplicationInfo(t *testing.T) {
	cases := []struct {
		name string
		info string
		want int
	}{
		{"no replica", infoNoReplica, 0},
		{"one replica", infoOneReplica, 1},
		{"two replicas", infoTwoReplicas, 2},
		{"one of three still syncing", infoOneWaiting, 2},
		{"a replica's own fields do not count", infoOfReplica, 0},
		{"LF line ends", strings.ReplaceAll(infoTwoReplicas, "\r\n", "\n"), 2},
		{"no final newline", "connected_slaves:1\r\nslave0:ip=::1,port=1,state=online,offset=5,lag=0", 1},
		{"state in another position", "slave0:state=online,ip=a,port=1\r\n", 1},
		{"send_bulk is not online", "connected_slaves:1\r\nslave0:ip=a,port=1,state=send_bulk,offset=0,lag=0\r\n", 0},
		{"garbled replica line", "connected_slaves:2\r\nslave0:nonsense\r\nslave1:ip=a,state=online\r\n", 1},
		{"fallback to connected_slaves", "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n", 2},
		{"replica<N> lines", "replica0:ip=a,port=1,state=online\r\n", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseReplicationInfo(c.info)
			if err != nil || got != c.want {
				t.Fatalf("parseReplicationInfo = %d, %v; want %d", got, err, c.want)
			}
		})
	}
}

func TestParseReplicationInfoRefused(t *testing.T) {
	for _, info := range []string{
		"",
		"# Replication\r\nrole:master\r\n",
		"connected_slaves:-1\r\n",
		"connected_slaves:many\r\n",
		"-ERR unknown command\r\n",
	} {
		if n, err := parseReplicationInfo(info); !errors.Is(err, errNoReplicationInfo) {
			t.Fatalf("parseReplicationInfo(%q) = %d, %v; want errNoReplicationInfo", info, n, err)
		}
	}
}

func FuzzParseReplicationInfo(f *testing.F) {
	for _, s := range []string{infoNoReplica, infoOneReplica, infoOneWaiting, infoOfReplica} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, info string) {
		n, err := parseReplicationInfo(info)
		if err == nil && n < 0 {
			t.Fatalf("parseReplicationInfo(%q) = %d", info, n)
		}
	})
}
