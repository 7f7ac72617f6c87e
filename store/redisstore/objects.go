package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/fencing"
	"github.com/cpgw/cpgw/store"
)

// Apply implements store.Store with one script call for the whole batch.
func (s *Store) Apply(ctx context.Context, b store.Batch) ([]store.Result, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	w, err := s.waitFor(b.Durability)
	if err != nil {
		return nil, err
	}
	keys := []string{
		s.keys.counter(b.Shard), s.keys.lease(b.Shard),
		s.keys.revision(b.Shard), s.keys.log(b.Shard), s.keys.epoch(b.Shard),
	}
	// Writes refer to their keys by index, so a namespace or idempotency key
	// used by several writes is declared once and the script's overlay sees
	// the earlier writes of the batch under the same index.
	index := make(map[string]int)
	keyIndex := func(k string) int {
		if i, ok := index[k]; ok {
			return i
		}
		keys = append(keys, k)
		index[k] = len(keys) // Lua's KEYS is 1-based
		return len(keys)
	}
	waits := "0"
	if w.replicas > 0 {
		waits = "1"
	}
	args := make([]any, 0, 6+applyArgsPerWrite*len(b.Writes))
	args = append(args, b.Token.String(), b.Now.UnixMilli(), s.retention, len(b.Writes), s.bound(), waits)
	for _, w := range b.Writes {
		op := "put"
		if w.Op == store.OpDelete {
			op = "delete"
		}
		obj := keyIndex(s.keys.objects(b.Shard, w.Namespace))
		idem, fp, ttl := 0, "", int64(0)
		if id := w.Idempotency; id != nil {
			idem = keyIndex(s.keys.idempotency(b.Shard, w.Namespace, id.Key))
			fp, ttl = id.Fingerprint, millis(id.EffectiveTTL())
		}
		ifAbsent := "0"
		if w.IfAbsent {
			ifAbsent = "1"
		}
		args = append(args, op, obj, idem, w.Namespace, w.Name, w.Value,
			strconv.FormatUint(w.IfVersion, 10), ifAbsent, fp, ttl)
	}

	var reply []string
	acked := 0
	if w.replicas == 0 {
		reply, err = s.sc.apply.Run(ctx, s.c, keys, args...).StringSlice()
	} else {
		var cmds []*redis.Cmd
		cmds, acked, err = runPipelined(ctx, s.c, s.sc.apply, false, []scriptCall{{keys: keys, args: args}}, w)
		if err == nil {
			reply, err = cmds[0].StringSlice()
		}
	}
	if err != nil {
		return nil, wrapErr("apply", b.Shard, err)
	}
	if len(reply) == 2 && reply[0] == "epoch" {
		return nil, wrapErr("apply", b.Shard, epochError(b.Shard, s.bound(), reply[1]))
	}
	if len(reply) == 3 && reply[0] == "stale" {
		current, err := strconv.ParseUint(reply[1], 10, 64)
		if err != nil {
			return nil, wrapErr("apply", b.Shard, fmt.Errorf("corrupt fencing counter %q", reply[1]))
		}
		if err := fencing.Check(b.Shard, b.Token, fencing.Token(current), reply[2] == "1"); err != nil {
			return nil, err
		}
		return nil, wrapErr("apply", b.Shard, errors.New("script refused a batch the guard accepts"))
	}
	if len(reply) != len(b.Writes)+1 || reply[0] != "ok" {
		return nil, wrapErr("apply", b.Shard, fmt.Errorf("unexpected script reply of %d elements", len(reply)))
	}
	results := make([]store.Result, len(b.Writes))
	for i, w := range b.Writes {
		r, err := parseResult(reply[i+1], b.Shard, w)
		if err != nil {
			return nil, wrapErr("apply", b.Shard, err)
		}
		// Apply reports the count and does not judge it: each write's
		// caller knows how many replicas it needs.
		r.ReplicasAcked = acked
		results[i] = r
	}
	return results, nil
}

// parseResult reads one "<code> <replayed> <version> <token> <ms>" entry of
// the apply script's reply.
func parseResult(s string, shard int, w store.Write) (store.Result, error) {
	f := strings.Fields(s)
	if len(f) != 5 {
		return store.Result{}, fmt.Errorf("bad result %q", s)
	}
	r := store.Result{Replayed: f[1] == "1"}
	switch f[0] {
	case "C":
		r.Outcome = store.Created
	case "U":
		r.Outcome = store.Updated
	case "D":
		r.Outcome = store.Deleted
	case "P":
		r.Err = store.ErrPrecondition
		return r, nil
	case "N":
		r.Err = store.ErrNotFound
		return r, nil
	case "M":
		r.Err = store.ErrIdempotencyMismatch
		return r, nil
	default:
		return store.Result{}, fmt.Errorf("bad result %q", s)
	}
	meta, err := parseMeta(f[2], f[3], f[4])
	if err != nil {
		return store.Result{}, fmt.Errorf("bad result %q: %w", s, err)
	}
	r.Object = meta
	r.Object.Namespace, r.Object.Name, r.Object.Shard = w.Namespace, w.Name, shard
	if r.Outcome != store.Deleted {
		// A replay carries the same fingerprint, hence the same request and
		// value, so the record need not keep a second copy of the value.
		r.Object.Value = w.Value
	}
	return r, nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, shard int, namespace, name string) (store.Object, error) {
	if err := checkShard(shard); err != nil {
		return store.Object{}, err
	}
	if namespace == "" || name == "" {
		return store.Object{}, invalid("empty namespace or name")
	}
	rec, err := s.c.HGet(ctx, s.keys.objects(shard, namespace), name).Result()
	if errors.Is(err, redis.Nil) {
		return store.Object{}, store.ErrNotFound
	}
	if err != nil {
		return store.Object{}, wrapErr("get", shard, err)
	}
	o, err := parseRecord(rec)
	if err != nil {
		return store.Object{}, wrapErr("get", shard, fmt.Errorf("%s/%s: %w", namespace, name, err))
	}
	o.Namespace, o.Name, o.Shard = namespace, name, shard
	return o, nil
}

// List implements store.Store. The objects and the revision come from one
// read-only script, so the revision is the one the objects were read at.
func (s *Store) List(ctx context.Context, shard int, namespace string) ([]store.Object, uint64, error) {
	if err := checkShard(shard); err != nil {
		return nil, 0, err
	}
	if namespace == "" {
		return nil, 0, invalid("empty namespace")
	}
	keys := []string{s.keys.revision(shard), s.keys.objects(shard, namespace)}
	reply, err := s.sc.list.RunRO(ctx, s.c, keys).Slice()
	if err != nil {
		return nil, 0, wrapErr("list", shard, err)
	}
	rev, fields, err := parseListReply(reply)
	if err != nil {
		return nil, 0, wrapErr("list", shard, err)
	}
	objs := make([]store.Object, 0, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		name, rec := fields[i], fields[i+1]
		o, err := parseRecord(rec)
		if err != nil {
			return nil, 0, wrapErr("list", shard, fmt.Errorf("%s/%s: %w", namespace, name, err))
		}
		o.Namespace, o.Name, o.Shard = namespace, name, shard
		objs = append(objs, o)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Name < objs[j].Name })
	return objs, rev, nil
}

func parseListReply(reply []any) (uint64, []string, error) {
	if len(reply) != 2 {
		return 0, nil, fmt.Errorf("unexpected reply of %d elements", len(reply))
	}
	revStr, ok := reply[0].(string)
	if !ok {
		return 0, nil, fmt.Errorf("unexpected revision %T", reply[0])
	}
	rev, err := strconv.ParseUint(revStr, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("corrupt revision %q", revStr)
	}
	raw, ok := reply[1].([]any)
	if !ok || len(raw)%2 != 0 {
		return 0, nil, fmt.Errorf("unexpected object list %T", reply[1])
	}
	fields := make([]string, len(raw))
	for i, v := range raw {
		if fields[i], ok = v.(string); !ok {
			return 0, nil, fmt.Errorf("unexpected object field %T", v)
		}
	}
	return rev, fields, nil
}

// Revision implements store.Store.
func (s *Store) Revision(ctx context.Context, shard int) (uint64, error) {
	if err := checkShard(shard); err != nil {
		return 0, err
	}
	v, err := s.c.Get(ctx, s.keys.revision(shard)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, wrapErr("revision", shard, err)
	}
	rev, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, wrapErr("revision", shard, fmt.Errorf("corrupt revision %q", v))
	}
	return rev, nil
}

// Changes implements store.Store. Log entry IDs are "<revision>-0", so the
// entries after a revision are one exclusive XRANGE.
func (s *Store) Changes(ctx context.Context, shard int, after uint64, limit int) ([]store.Change, error) {
	if err := checkShard(shard); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, invalid("limit %d", limit)
	}
	msgs, err := s.c.XRangeN(ctx, s.keys.log(shard), "("+strconv.FormatUint(after, 10), "+", int64(limit)).Result()
	if err != nil {
		return nil, wrapErr("changes", shard, err)
	}
	out := make([]store.Change, 0, len(msgs))
	for _, m := range msgs {
		c, err := parseChange(m)
		if err != nil {
			return nil, wrapErr("changes", shard, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func parseChange(m redis.XMessage) (store.Change, error) {
	bad := func(what string) (store.Change, error) {
		return store.Change{}, fmt.Errorf("corrupt change-log entry %s: %s", m.ID, what)
	}
	revStr, seq, ok := strings.Cut(m.ID, "-")
	if !ok || seq != "0" {
		return bad("id")
	}
	rev, err := strconv.ParseUint(revStr, 10, 64)
	if err != nil {
		return bad("id")
	}
	c := store.Change{Revision: rev}
	switch m.Values["op"] {
	case "put":
		c.Op = store.OpPut
	case "delete":
		c.Op = store.OpDelete
	default:
		return bad("op")
	}
	var okNS, okName bool
	c.Namespace, okNS = m.Values["namespace"].(string)
	c.Name, okName = m.Values["name"].(string)
	if !okNS || !okName {
		return bad("name")
	}
	tok, _ := m.Values["token"].(string)
	t, err := fencing.Parse(tok)
	if err != nil {
		return bad("token")
	}
	c.Token = t
	return c, nil
}

// parseRecord reads an object record, "<version> <token> <updatedUnixMs>
// <value>". Anything else is reported as corrupt rather than guessed at.
func parseRecord(rec string) (store.Object, error) {
	ver, rest, ok1 := strings.Cut(rec, " ")
	tok, rest, ok2 := strings.Cut(rest, " ")
	ms, value, ok3 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !ok3 || value == "" {
		return store.Object{}, errors.New("corrupt object record")
	}
	o, err := parseMeta(ver, tok, ms)
	if err != nil {
		return store.Object{}, fmt.Errorf("corrupt object record: %w", err)
	}
	o.Value = []byte(value)
	return o, nil
}

// parseMeta reads the version, token and update time common to object
// records and apply results.
func parseMeta(ver, tok, ms string) (store.Object, error) {
	v, err := strconv.ParseUint(ver, 10, 64)
	if err != nil {
		return store.Object{}, fmt.Errorf("version %q", ver)
	}
	t, err := fencing.Parse(tok)
	if err != nil {
		return store.Object{}, fmt.Errorf("token %q", tok)
	}
	m, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return store.Object{}, fmt.Errorf("time %q", ms)
	}
	return store.Object{Version: v, Token: t, UpdatedAt: time.UnixMilli(m).UTC()}, nil
}
