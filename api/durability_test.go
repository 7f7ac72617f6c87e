package api_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cpgw/cpgw/api"
)

func TestDurabilityUnmarshal(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want api.Durability
	}{
		{"count", `{"replicas":2,"timeout":"100ms"}`, api.Durability{Replicas: 2, Timeout: "100ms"}},
		{"zero", `{"replicas":0}`, api.Durability{}},
		{"max", `{"replicas":16}`, api.Durability{Replicas: 16}},
		{"negative zero", `{"replicas":-0}`, api.Durability{}},
		{"absent", `{"timeout":"1s"}`, api.Durability{Timeout: "1s"}},
		{"null replicas", `{"replicas":null}`, api.Durability{}},
		{"empty", `{}`, api.Durability{}},
		{"majority", `{"replicas":"majority"}`, api.Durability{Majority: true}},
		{"majority with floor", `{"replicas":"majority","minReplicas":1,"timeout":"100ms"}`,
			api.Durability{Majority: true, MinReplicas: 1, Timeout: "100ms"}},
		{"majority, floor first", `{"minReplicas":16,"replicas":"majority"}`, api.Durability{Majority: true, MinReplicas: 16}},
		{"majority, null floor", `{"replicas":"majority","minReplicas":null}`, api.Durability{Majority: true}},
		{"spaces", ` { "replicas" : 1 } `, api.Durability{Replicas: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got api.Durability
			if err := json.Unmarshal([]byte(c.in), &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", c.in, err)
			}
			if got != c.want {
				t.Fatalf("Unmarshal(%s) = %+v, want %+v", c.in, got, c.want)
			}
		})
	}
}

func TestDurabilityUnmarshalRefused(t *testing.T) {
	cases := []struct {
		name, in, msg string
	}{
		{"negative", `{"replicas":-1}`, `replicas must be an integer 0..16 or "majority"`},
		{"too many", `{"replicas":17}`, `replicas must be an integer 0..16 or "majority"`},
		{"fraction", `{"replicas":1.5}`, `replicas must be an integer`},
		{"float form", `{"replicas":1.0}`, `replicas must be an integer`},
		{"exponent", `{"replicas":1e1}`, `replicas must be an integer`},
		{"huge", `{"replicas":99999999999999999999999}`, `replicas must be an integer`},
		{"quoted number", `{"replicas":"2"}`, `replicas must be an integer`},
		{"other word", `{"replicas":"all"}`, `replicas must be an integer`},
		{"capitalised", `{"replicas":"Majority"}`, `replicas must be an integer`},
		{"bool", `{"replicas":true}`, `replicas must be an integer`},
		{"object", `{"replicas":{}}`, `replicas must be an integer`},
		{"floor without majority", `{"replicas":2,"minReplicas":1}`, `minReplicas is the floor`},
		{"zero floor without majority", `{"replicas":0,"minReplicas":0}`, `minReplicas is the floor`},
		{"floor alone", `{"minReplicas":1}`, `minReplicas is the floor`},
		{"floor too high", `{"replicas":"majority","minReplicas":17}`, `minReplicas must be an integer 0..16`},
		{"negative floor", `{"replicas":"majority","minReplicas":-1}`, `minReplicas must be an integer 0..16`},
		{"floor as text", `{"replicas":"majority","minReplicas":"1"}`, `minReplicas must be an integer 0..16`},
		{"unknown field", `{"replicas":1,"extra":true}`, `unknown field "extra"`},
		{"misspelt floor", `{"replicas":"majority","minReplica":1}`, `unknown field "minReplica"`},
		{"timeout not a string", `{"replicas":1,"timeout":100}`, `timeout`},
		{"array", `[1]`, `must be a JSON object`},
		{"number", `1`, `must be a JSON object`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got api.Durability
			err := json.Unmarshal([]byte(c.in), &got)
			if !errors.Is(err, api.ErrInvalidDurability) {
				t.Fatalf("Unmarshal(%s) = %v (%+v), want ErrInvalidDurability", c.in, err, got)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("Unmarshal(%s): %q does not say %q", c.in, err, c.msg)
			}
		})
	}
}

// TestDurabilityMarshal: a fixed count encodes byte for byte as before
// majority existed.
func TestDurabilityMarshal(t *testing.T) {
	cases := []struct {
		name string
		in   api.Durability
		want string
	}{
		{"count", api.Durability{Replicas: 1, Timeout: "500ms"}, `{"replicas":1,"timeout":"500ms"}`},
		{"zero", api.Durability{}, `{"replicas":0}`},
		{"majority", api.Durability{Majority: true}, `{"replicas":"majority"}`},
		{"majority with floor", api.Durability{Majority: true, MinReplicas: 1, Timeout: "100ms"},
			`{"replicas":"majority","minReplicas":1,"timeout":"100ms"}`},
		{"majority ignores Replicas", api.Durability{Majority: true, Replicas: 3}, `{"replicas":"majority"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := json.Marshal(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("Marshal(%+v) = %s, want %s", c.in, got, c.want)
			}
		})
	}
	// Inside the settings, as a pointer, the same.
	got, err := json.Marshal(api.NamespaceSettings{Durability: &api.Durability{Replicas: 2, Timeout: "1s"}})
	if err != nil || string(got) != `{"durability":{"replicas":2,"timeout":"1s"}}` {
		t.Fatalf("settings = %s, %v", got, err)
	}
}

func TestDurabilityNull(t *testing.T) {
	var s api.NamespaceSettings
	if err := json.Unmarshal([]byte(`{"durability":null}`), &s); err != nil || s.Durability != nil {
		t.Fatalf("null durability = %+v, %v; want nil", s.Durability, err)
	}
	d := api.Durability{Replicas: 3}
	if err := d.UnmarshalJSON([]byte("null")); err != nil || d.Replicas != 3 {
		t.Fatalf("UnmarshalJSON(null) = %+v, %v; want it unchanged", d, err)
	}
}

// FuzzDurabilityUnmarshal: any input either decodes to a setting within
// bounds that survives a round trip, or fails with ErrInvalidDurability;
// nothing panics.
func FuzzDurabilityUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"replicas":2,"timeout":"100ms"}`, `{"replicas":"majority","minReplicas":1,"timeout":"100ms"}`,
		`{"replicas":"majority"}`, `{"replicas":-1}`, `{"replicas":1.0}`, `{"minReplicas":1}`,
		`{"replicas":"\u006dajority"}`, `{"replicas":null,"minReplicas":null}`, `null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d api.Durability
		if err := d.UnmarshalJSON(b); err != nil {
			if !errors.Is(err, api.ErrInvalidDurability) {
				t.Fatalf("UnmarshalJSON(%q) = %v, not ErrInvalidDurability", b, err)
			}
			return
		}
		if d.Replicas < 0 || d.Replicas > api.MaxReplicas || d.MinReplicas < 0 || d.MinReplicas > api.MaxReplicas ||
			(d.Majority && d.Replicas != 0) || (!d.Majority && d.MinReplicas != 0) {
			t.Fatalf("UnmarshalJSON(%q) = %+v, out of bounds", b, d)
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", d, err)
		}
		var again api.Durability
		if err := json.Unmarshal(out, &again); err != nil || again != d {
			t.Fatalf("round trip of %q: %s decodes to %+v, %v; want %+v", b, out, again, err, d)
		}
	})
}
