// Package objectjson encodes api.Object, the body of every object read and
// write response, without encoding/json: json.Marshal reflects over the
// struct, re-validates and compacts the stored value (a RawMessage) into a
// fresh buffer and allocates the result, on every response. Append writes
// the same bytes by hand and copies the stored value verbatim when that
// gives the same bytes as compacting it would.
//
// Guarantee: whatever Append returns with ok true is byte for byte what
// json.Marshal returns for the object; when it cannot promise that it
// returns ok false and the caller uses encoding/json (Marshal does both).
// The coordinator and the gateway both encode objects this way, so a
// response relayed by the gateway and one it answers from the replica
// spell an object alike.
package objectjson

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cpgw/cpgw/api"
)

// Marshal appends o's JSON encoding to dst: Append's when it answers, else
// encoding/json's (whose error, for an invalid stored value or a year
// outside [0,9999], it returns with dst unchanged).
func Marshal(dst []byte, o *api.Object) ([]byte, error) {
	if out, ok := Append(dst, o); ok {
		return out, nil
	}
	b, err := json.Marshal(o)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// Append appends o as json.Marshal would encode it. It reports false,
// leaving dst as it was, when it cannot guarantee identical bytes; the
// caller then uses encoding/json.
func Append(dst []byte, o *api.Object) ([]byte, bool) {
	// time.Time.MarshalJSON refuses years outside [0,9999]; leave that
	// error (and its 500) to encoding/json.
	if y := o.Metadata.UpdatedAt.Year(); y < 0 || y > 9999 {
		return dst, false
	}
	if len(o.Value) > 0 && !verbatimValue(o.Value) {
		return dst, false
	}
	m := &o.Metadata
	dst = append(dst, `{"metadata":{"namespace":`...)
	dst = appendString(dst, m.Namespace)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, m.Name)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendUint(dst, m.Version, 10)
	dst = append(dst, `,"shard":`...)
	dst = strconv.AppendInt(dst, int64(m.Shard), 10)
	dst = append(dst, `,"fencingToken":`...)
	dst = strconv.AppendUint(dst, m.FencingToken, 10)
	dst = append(dst, `,"updatedAt":"`...)
	dst = m.UpdatedAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if m.Deleted {
		dst = append(dst, `,"deleted":true`...)
	}
	dst = append(dst, '}')
	if len(o.Value) > 0 { // omitempty
		dst = append(dst, `,"value":`...)
		dst = append(dst, o.Value...)
	}
	return append(dst, '}'), true
}

// verbatimValue reports whether compacting v with HTML escaping, as
// encoding/json does with a RawMessage, would leave it unchanged: it is
// valid JSON with no whitespace between tokens (inside strings it is
// content) and no '<', '>', '&' or U+2028/U+2029 anywhere (encoding/json
// escapes them inside strings; outside, valid JSON has none). Values stored
// through the gateway are compact, so this holds for nearly every read.
func verbatimValue(v []byte) bool {
	inString, escaped := false, false
	for _, c := range v {
		switch {
		case c == '<' || c == '>' || c == '&' || c == 0xE2: // 0xE2 leads U+2028/U+2029 (and other runes: conservative)
			return false
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return false
		}
	}
	return json.Valid(v)
}

// appendString appends s as a JSON string exactly as encoding/json does
// with HTML escaping on (json.Marshal's default): <, > and & as \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
