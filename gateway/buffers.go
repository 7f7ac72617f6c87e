package gateway

import "sync"

// Response buffers. The local read path encodes objects with package
// objectjson into a pooled buffer instead of a fresh one per read.

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
