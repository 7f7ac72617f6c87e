package objectjson

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/cpgw/cpgw/api"
)

// checkSameAsMarshal fails unless Marshal gives json.Marshal's bytes, or
// both fail.
func checkSameAsMarshal(t testing.TB, o api.Object) {
	t.Helper()
	want, wantErr := json.Marshal(&o)
	got, gotErr := Marshal(nil, &o)
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("object %+v: json.Marshal error %v, Marshal error %v", o, wantErr, gotErr)
	}
	if wantErr == nil && !bytes.Equal(got, want) {
		t.Fatalf("object %+v:\n got %s\nwant %s", o, got, want)
	}
	// The fast path, when it answers, must agree too.
	if fast, ok := Append([]byte("prefix"), &o); ok {
		if wantErr != nil || !bytes.Equal(fast[len("prefix"):], want) {
			t.Fatalf("Append %+v:\n got %s\nwant %s (err %v)", o, fast, want, wantErr)
		}
	}
}

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	when := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	base := api.Metadata{Namespace: "payments", Name: "limits", Version: 7, Shard: 12, FencingToken: 3, UpdatedAt: when}
	with := func(f func(*api.Object)) api.Object {
		o := api.Object{Metadata: base, Value: json.RawMessage(`{"max":1}`)}
		f(&o)
		return o
	}
	cases := []struct {
		name string
		obj  api.Object
	}{
		{"typical", with(func(*api.Object) {})},
		{"no value", with(func(o *api.Object) { o.Value = nil })},
		{"empty value", with(func(o *api.Object) { o.Value = json.RawMessage{} })},
		{"deleted", with(func(o *api.Object) { o.Metadata.Deleted = true; o.Value = nil })},
		{"zero metadata", api.Object{}},
		{"max numbers", with(func(o *api.Object) {
			o.Metadata.Version, o.Metadata.FencingToken, o.Metadata.Shard = math.MaxUint64, math.MaxUint64, math.MaxInt
		})},
		{"negative shard", with(func(o *api.Object) { o.Metadata.Shard = -1 })},
		{"nanoseconds", with(func(o *api.Object) { o.Metadata.UpdatedAt = when.Add(123456789) })},
		{"trailing zero nanos", with(func(o *api.Object) { o.Metadata.UpdatedAt = when.Add(120 * time.Millisecond) })},
		{"non-UTC zone", with(func(o *api.Object) {
			o.Metadata.UpdatedAt = when.In(time.FixedZone("x", -(5*3600 + 30*60)))
		})},
		{"year 10000 fails", with(func(o *api.Object) { o.Metadata.UpdatedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"negative year fails", with(func(o *api.Object) { o.Metadata.UpdatedAt = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"escapes in names", with(func(o *api.Object) {
			o.Metadata.Namespace, o.Metadata.Name = "a\"b\\c\n\t\r\b\f\x00\x1f<>&", "\u2028\u2029\xff\xfe é 日本"
		})},
		{"value with spaces", with(func(o *api.Object) { o.Value = json.RawMessage(` { "a" : [1, 2] } `) })},
		{"value with html", with(func(o *api.Object) { o.Value = json.RawMessage(`{"a":"<b>&</b>"}`) })},
		{"value with U+2028", with(func(o *api.Object) { o.Value = json.RawMessage("{\"a\":\"\u2028\"}") })},
		{"value with other 0xE2 rune", with(func(o *api.Object) { o.Value = json.RawMessage(`{"a":"€"}`) })},
		{"value with escapes", with(func(o *api.Object) { o.Value = json.RawMessage(`{"a":"\u003c\n\"x\""}`) })},
		{"invalid value fails", with(func(o *api.Object) { o.Value = json.RawMessage(`{"a":`) })},
		{"two values fail", with(func(o *api.Object) { o.Value = json.RawMessage(`{}{}`) })},
		{"scalar value", with(func(o *api.Object) { o.Value = json.RawMessage(`12.5e3`) })},
		{"null value", with(func(o *api.Object) { o.Value = json.RawMessage(`null`) })},
		{"invalid UTF-8 in value", with(func(o *api.Object) { o.Value = json.RawMessage("{\"a\":\"\xff\"}") })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkSameAsMarshal(t, tc.obj) })
	}
}

// TestMarshalRandom compares against encoding/json on many generated
// objects: random strings over an alphabet rich in bytes that need
// escaping, random times and random (valid and invalid) values.
func TestMarshalRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "z", "0", ".", "-", "_", " ", "\"", "\\", "\n", "\x00", "\x7f", "<", ">", "&",
		"é", "\u2028", "\u2029", "€", "\xff", "\xe2\x80", "日"}
	str := func() string {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, alphabet[rng.IntN(len(alphabet))]...)
		}
		return string(b)
	}
	values := []string{``, `{}`, `{"a":1}`, `[1,2,3]`, `"s"`, `true`, `{"a":{"b":[null,false,"x y"]}}`, `{ }`, `{"a":}`}
	for i := range 5000 {
		v := values[rng.IntN(len(values))]
		if rng.IntN(3) == 0 {
			v = `{"k":` + strconv.Quote(str()) + `}` // strconv.Quote is valid JSON only sometimes: both paths are checked
		}
		o := api.Object{
			Metadata: api.Metadata{
				Namespace: str(), Name: str(), Version: rng.Uint64(), Shard: rng.IntN(1<<20) - 1<<19,
				FencingToken: rng.Uint64() >> rng.IntN(64), Deleted: rng.IntN(4) == 0,
				UpdatedAt: time.Unix(rng.Int64N(1<<36)-1<<35, rng.Int64N(1e9)).In(time.FixedZone("z", rng.IntN(50000)-25000)),
			},
			Value: json.RawMessage(v),
		}
		if i%2 == 0 {
			o.Metadata.UpdatedAt = o.Metadata.UpdatedAt.UTC()
		}
		checkSameAsMarshal(t, o)
	}
}

func FuzzMarshal(f *testing.F) {
	f.Add("payments", "limits", uint64(7), 12, uint64(3), int64(1795341600), int64(5), false, []byte(`{"max":1}`))
	f.Add("a<b", "\u2028", uint64(0), -1, uint64(0), int64(0), int64(0), true, []byte(` {"a" : "<"} `))
	f.Add("", "\xff", uint64(1), 0, uint64(1), int64(-62167219201), int64(0), false, []byte(`{`))
	f.Fuzz(func(t *testing.T, ns, name string, version uint64, shard int, token uint64, sec, nsec int64, deleted bool, value []byte) {
		o := api.Object{
			Metadata: api.Metadata{Namespace: ns, Name: name, Version: version, Shard: shard, FencingToken: token,
				UpdatedAt: time.Unix(sec, nsec).UTC(), Deleted: deleted},
			Value: json.RawMessage(value),
		}
		checkSameAsMarshal(t, o)
	})
}

// TestAppendFastPath: the values the gateway stores (compact JSON
// objects) take the fast path; the fallback is for the unusual.
func TestAppendFastPath(t *testing.T) {
	for _, tc := range []struct {
		value string
		fast  bool
	}{
		{`{"max":1}`, true},
		{`{"a":{"b":[1,2.5,null,true,"x"]}}`, true},
		{``, true},
		{`{"note":"spaces inside a string"}`, true},
		{`{"q":"an \"escaped\" quote, then a space"}`, true},
		{`{"a": 1}`, false},
		{`{"a":"x" }`, false},
		{`{"a":"<"}`, false},
		{`{"a":`, false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			o := api.Object{Metadata: api.Metadata{UpdatedAt: time.Unix(1, 0).UTC()}, Value: json.RawMessage(tc.value)}
			if _, ok := Append(nil, &o); ok != tc.fast {
				t.Errorf("fast path %v, want %v", ok, tc.fast)
			}
		})
	}
}
