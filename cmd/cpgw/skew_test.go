package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
)

// Bad --clock-offset and --clock-rate values, from any source, are refused
// with a message naming the flag, before the coordinator dials the store.
func TestClockSkewFlagErrors(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "cpgw.yaml")
	if err := os.WriteFile(cfgFile, []byte("clock-rate: 0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	required := []string{"--region", "r", "--id", "c", "--listen", "127.0.0.1:0",
		"--advertise", "http://127.0.0.1:1", "--redis", "redis://127.0.0.1:1", "--insecure"}
	requiredEnv := map[string]string{"CPGW_REGION": "r", "CPGW_ID": "c", "CPGW_LISTEN": "127.0.0.1:0",
		"CPGW_ADVERTISE": "http://127.0.0.1:1", "CPGW_REDIS": "redis://127.0.0.1:1", "CPGW_INSECURE": "true"}
	tests := []struct {
		name string
		args []string          // after "coordinator"
		env  map[string]string // set for the test
		code int
		says string
	}{
		{"rate 0", append([]string{"--clock-rate", "0"}, required...), nil, 1, "--clock-rate: skew: rate 0: want a finite rate within [0.5, 2]"},
		{"rate 5", append([]string{"--clock-rate", "5"}, required...), nil, 1, "--clock-rate: skew: rate 5"},
		{"negative rate", append([]string{"--clock-rate=-1"}, required...), nil, 1, "--clock-rate: skew: rate -1"},
		{"rate NaN", append([]string{"--clock-rate", "NaN"}, required...), nil, 1, "--clock-rate: skew: rate NaN"},
		{"rate +Inf", append([]string{"--clock-rate", "+Inf"}, required...), nil, 1, "--clock-rate: skew: rate +Inf"},
		{"rate abc", append([]string{"--clock-rate", "abc"}, required...), nil, 2, `invalid value "abc" for flag -clock-rate`},
		{"offset abc", append([]string{"--clock-offset", "abc"}, required...), nil, 2, `invalid value "abc" for flag -clock-offset`},
		{"offset without a unit", append([]string{"--clock-offset", "5"}, required...), nil, 2, `invalid value "5" for flag -clock-offset`},
		{"rate 5 from the environment", required, map[string]string{"CPGW_CLOCK_RATE": "5"}, 1, "--clock-rate: skew: rate 5"},
		{"rate abc from the environment", required, map[string]string{"CPGW_CLOCK_RATE": "abc"}, 2, `"CPGW_CLOCK_RATE"`},
		{"offset abc from the environment", required, map[string]string{"CPGW_CLOCK_OFFSET": "abc"}, 2, `"CPGW_CLOCK_OFFSET"`},
		{"rate 0 on the command line, the rest from the environment", []string{"--clock-rate", "0"}, requiredEnv, 1, "--clock-rate: skew: rate 0"},
		{"rate 0.1 from the config file", append([]string{"--config", cfgFile}, required...), nil, 1, "--clock-rate: skew: rate 0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			code := run(append([]string{"coordinator"}, tt.args...), &out, &errb)
			got := out.String() + errb.String()
			if code != tt.code || !strings.Contains(got, tt.says) {
				t.Fatalf("exit %d, output %q; want %d mentioning %q", code, got, tt.code, tt.says)
			}
			if strings.Contains(got, "127.0.0.1:1") || strings.Contains(got, "skew injected") {
				t.Fatalf("went on to start with a bad clock flag: %q", got)
			}
		})
	}
}

// The clock flags are for tests: --help does not list them.
func TestClockSkewFlagsHidden(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"coordinator", "--help"}, &out, &errb)
	help := out.String() + errb.String()
	if code != 2 || !strings.Contains(help, "-lease-ttl") {
		t.Fatalf("coordinator --help: exit %d, %q", code, help)
	}
	if strings.Contains(help, "clock") {
		t.Fatalf("--help lists a clock flag:\n%s", help)
	}
}

// A coordinator started with --clock-offset 1h (on the command line) and
// CPGW_CLOCK_RATE (in the environment, as every other flag is) says so
// loudly, and its clock is the one that stamps writes: they come back an
// hour ahead.
func TestSkewedCoordinator(t *testing.T) {
	c := startCoordinator(t, map[string]string{"CPGW_CLOCK_RATE": "1.01"}, "--clock-offset", "1h")
	addr := c.waitLog(t, regexp.MustCompile(`msg="coordinator listening" listen=(\S+)`))
	if log := c.logs.String(); !strings.Contains(log, `level=WARN msg="clock skew injected for testing`) ||
		!strings.Contains(log, "clock_offset=1h0m0s clock_rate=1.01") {
		t.Fatalf("no warning of the skew:\n%s", log)
	}

	// Shard 0 is the only one; retry while the coordinator acquires it.
	deadline := time.Now().Add(30 * time.Second)
	url := "http://" + addr + api.InternalObjectPath(0, "ns", "obj")
	var obj api.Object
	for {
		status, body := sendJSON(t, http.MethodPut, url, `{"k":"v"}`)
		if status == http.StatusOK || status == http.StatusCreated {
			if err := json.Unmarshal(body, &obj); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PUT %s: %d %s", url, status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ahead := time.Until(obj.Metadata.UpdatedAt); ahead < 55*time.Minute || ahead > 65*time.Minute {
		t.Fatalf("write stamped %v (%v from now), want about an hour ahead", obj.Metadata.UpdatedAt, ahead)
	}
}
