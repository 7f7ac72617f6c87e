package gateway

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cpgw/cpgw/api"
)

// The local read path writes an object without encoding/json: json.Marshal
// of api.Object reflects over the struct, re-validates and compacts the
// stored value (a RawMessage) into a fresh buffer and allocates the result,
// on every read. appendObject writes the same bytes by hand and copies the
// stored value verbatim when that gives the same bytes as compacting it
// would; anything unusual falls back to encoding/json, so the output is
// always byte-for-byte what json.Marshal gives (see objectjson_test.go).

// maxPooledBuf bounds the buffers kept for reuse: one huge list response
// should not pin its buffer for the life of the process.
const maxPooledBuf = 64 << 10

// bufPool holds response buffers. A package-level pool (the one kind of
// package state allowed here): buffers are interchangeable between
// gateways, and a pool per Gateway would only split the reuse.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// copyBufs holds the buffers relay copies coordinator responses through.
var copyBufs = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

const copyBufSize = 8 << 10

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// appendObject appends o as json.Marshal would encode it. It reports false,
// leaving dst as it was, when it cannot guarantee identical bytes; the
// caller then uses encoding/json.
func appendObject(dst []byte, o *api.Object) ([]byte, bool) {
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
