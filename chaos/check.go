package chaos

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

const (
	defaultCheckTimeout = 10 * time.Second
	// defaultMaxStaleness is the API's default for ?maxStaleness, what the
	// gateway applied to a local read that did not ask.
	defaultMaxStaleness = 5 * time.Second
)

// CheckOptions shape CheckHistory.
type CheckOptions struct {
	// Timeout is porcupine's budget. Default 10s.
	Timeout time.Duration
	// VisualizeDir receives porcupine's HTML when the history is not
	// linearizable; "" writes nothing.
	VisualizeDir string
	// Name is the scenario's name, used in file names.
	Name string
}

// Findings are the results of the checks on one history. Each anomaly is
// one human-readable line naming the key, the clients, versions and times.
type Findings struct {
	Ops          int `json:"ops"`
	Acknowledged int `json:"acknowledged"`
	Failed       int `json:"failed"`
	Unknown      int `json:"unknown"`
	// Linearizable is true only if porcupine proved it; on a timeout it is
	// false and LinearizabilityTimedOut says why.
	Linearizable            bool   `json:"linearizable"`
	LinearizabilityTimedOut bool   `json:"linearizabilityTimedOut,omitempty"`
	Visualization           string `json:"visualization,omitempty"`

	LostWrites           []string `json:"lostWrites,omitempty"`
	NonMonotonicVersions []string `json:"nonMonotonicVersions,omitempty"`
	StaleTokenWrites     []string `json:"staleTokenWrites,omitempty"`
	DuplicateEffects     []string `json:"duplicateEffects,omitempty"`
	StaleLocalReads      []string `json:"staleLocalReads,omitempty"`
}

// Anomalies counts every anomaly found; a non-linearizable history counts
// as one. A timed-out check found nothing, so it adds none: see OK.
func (f Findings) Anomalies() int {
	n := len(f.LostWrites) + len(f.NonMonotonicVersions) + len(f.StaleTokenWrites) +
		len(f.DuplicateEffects) + len(f.StaleLocalReads)
	if !f.Linearizable && !f.LinearizabilityTimedOut {
		n++
	}
	return n
}

// OK reports a history that passed every check. A linearizability check
// that timed out is not a pass: the history was not verified.
func (f Findings) OK() bool { return f.Anomalies() == 0 && !f.LinearizabilityTimedOut }

// CheckHistory runs every check on a history. The caller's final strong
// reads of every key are ordinary ops in it; they are the evidence that
// tells a lost write from one not yet read.
//
// Writes sharing an idempotency key (and key and value) are one request
// retried: they are merged into one write whose interval runs from the
// first call to the first acknowledgement, since that is where its single
// effect happened — unless they were acknowledged at different versions,
// which DuplicateEffects reports and the other checks see as two writes.
func CheckHistory(ops []Op, opts CheckOptions) Findings {
	f := Findings{Ops: len(ops)}
	for _, op := range ops {
		switch op.Outcome {
		case OutcomeOK:
			f.Acknowledged++
		case OutcomeFailed:
			f.Failed++
		default:
			f.Unknown++
		}
	}
	writes := effectiveWrites(ops)
	var acked, strong, local []Op
	for _, w := range writes {
		if w.Outcome == OutcomeOK {
			acked = append(acked, w)
		}
	}
	for _, op := range ops {
		if op.Kind == OpRead && op.Outcome == OutcomeOK {
			if op.Strong {
				strong = append(strong, op)
			} else {
				local = append(local, op)
			}
		}
	}
	checkLinearizable(&f, append(slices.Clip(writes), strong...), opts)
	f.LostWrites = lostWrites(acked, strong)
	f.NonMonotonicVersions = nonMonotonicVersions(acked, strong)
	f.StaleTokenWrites = staleTokenWrites(acked)
	f.DuplicateEffects = duplicateEffects(ops)
	f.StaleLocalReads = staleLocalReads(acked, local)
	return f
}

// effectiveWrites are the writes that may have had an effect (failed ones
// had none), with retries under one idempotency key merged (see
// CheckHistory). No check depends on their order.
func effectiveWrites(ops []Op) []Op {
	type group struct{ key, idem, value string }
	var order []group
	byGroup := map[group][]Op{}
	var out []Op
	for _, op := range ops {
		if op.Kind != OpWrite || op.Outcome == OutcomeFailed {
			continue
		}
		if op.IdempotencyKey == "" {
			out = append(out, op)
			continue
		}
		g := group{op.Key, op.IdempotencyKey, op.Value}
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], op)
	}
	for _, g := range order {
		out = append(out, mergeRetries(byGroup[g])...)
	}
	return out
}

func mergeRetries(group []Op) []Op {
	if len(ackedVersions(group)) > 1 {
		return group // two effects: keep them apart
	}
	var firstOK *Op
	for i, op := range group {
		if op.Outcome == OutcomeOK && (firstOK == nil || op.Return < firstOK.Return) {
			firstOK = &group[i]
		}
	}
	merged := group[0] // all unknown: unknown, answered by none
	if firstOK != nil {
		merged = *firstOK
	}
	for _, op := range group {
		merged.Call = min(merged.Call, op.Call)
		if firstOK == nil {
			merged.Return = max(merged.Return, op.Return)
		}
	}
	merged.Replayed = false
	return []Op{merged}
}

// ackedVersions are the distinct versions at which ops were acknowledged.
func ackedVersions(ops []Op) []uint64 {
	var vs []uint64
	for _, op := range ops {
		if op.Outcome == OutcomeOK && op.Version != 0 && !slices.Contains(vs, op.Version) {
			vs = append(vs, op.Version)
		}
	}
	slices.Sort(vs)
	return vs
}

// checkLinearizable runs porcupine on the writes and strong reads. It
// checks without the verbose bookkeeping first, which is cheaper, and only
// on a failure runs again to draw the visualisation.
func checkLinearizable(f *Findings, ops []Op, opts CheckOptions) {
	timeout := cmp.Or(opts.Timeout, defaultCheckTimeout)
	model, history := RegisterModel(), porcupineOps(ops)
	switch porcupine.CheckOperationsTimeout(model, history, timeout) {
	case porcupine.Ok:
		f.Linearizable = true
		return
	case porcupine.Unknown:
		f.LinearizabilityTimedOut = true
		return
	}
	if opts.VisualizeDir == "" {
		return
	}
	_, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	path := filepath.Join(opts.VisualizeDir, vizFileName(opts.Name)+"-linearizability.html")
	// A failure to write the file must not hide the finding; the path is
	// only reported when the file exists.
	if os.MkdirAll(opts.VisualizeDir, 0o755) == nil && porcupine.VisualizePath(model, info, path) == nil {
		f.Visualization = path
	}
}

func vizFileName(name string) string {
	if name == "" {
		return "history"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name)
}

// opVersion is the version an acknowledged op returned; a read of an absent
// object saw 0 (objects start absent and the workload never deletes). ok is
// false when no version was reported, which proves nothing.
func opVersion(op Op) (v uint64, ok bool) {
	if op.Kind == OpRead && !op.Found {
		return 0, true
	}
	return op.Version, op.Version != 0
}

// lostWrites: an acknowledged write w to key k (with a version) is lost if
// some acknowledged strong read of k that was called after w returned
// (r.Call > w.Return) saw a version below w.Version, or absent. The final
// strong read of k (the last by Return) is the main such evidence and is
// named as such; an earlier later-than-w read that missed w counts too,
// because a version reused after the loss could make the final read look
// fine. A read concurrent with w proves nothing (it may linearize before
// w), so the final read is not held against a write it overlapped. Such a
// stale read also makes the history non-linearizable: both are reported.
func lostWrites(acked, strong []Op) []string {
	var out []string
	readsByKey := groupOps(strong, func(op Op) string { return op.Key })
	finals := map[string]Op{}
	for k, reads := range readsByKey {
		finals[k] = slices.MaxFunc(reads, func(a, b Op) int { return cmp.Compare(a.Return, b.Return) })
	}
	for _, w := range acked {
		reads := readsByKey[w.Key]
		if w.Version == 0 || len(reads) == 0 {
			continue
		}
		final := finals[w.Key]
		var evidence *Op
		for i, r := range reads {
			v, ok := opVersion(r)
			if !ok || r.Call <= w.Return || v >= w.Version {
				continue
			}
			if evidence == nil || r.Return == final.Return {
				evidence = &reads[i]
			}
		}
		if evidence == nil {
			continue
		}
		which := "a later strong read"
		if evidence.Return == final.Return {
			which = "the final strong read"
		}
		out = append(out, fmt.Sprintf("%s: write %q v%d by client %d (returned %s) is missing: %s by client %d (called %s) saw %s",
			w.Key, w.Value, w.Version, w.Client, fmtTime(w.Return), which, evidence.Client, fmtTime(evidence.Call), describeSeen(*evidence)))
	}
	return out
}

// nonMonotonicVersions: per key and client, an acknowledged write or strong
// read whose version is below the highest version an op of the same client
// on that key had already returned (Return < Call, real time) — versions
// only grow (Invariant 4). Local reads are left out: they may lag within
// their bound (see staleLocalReads). Also: two acknowledged writes of
// different values to one key at the same version.
func nonMonotonicVersions(acked, strong []Op) []string {
	var out []string
	type kc struct {
		key    string
		client int
	}
	var seq []Op
	for _, op := range append(slices.Clip(acked), strong...) {
		if _, ok := opVersion(op); ok {
			seq = append(seq, op)
		}
	}
	for _, ops := range sortedOpGroups(seq, func(op Op) kc { return kc{op.Key, op.Client} }, func(a, b kc) int {
		return cmp.Or(strings.Compare(a.key, b.key), cmp.Compare(a.client, b.client))
	}) {
		sweepReturnedBefore(ops, func(op Op) uint64 { v, _ := opVersion(op); return v },
			func(op, prev Op, best uint64) {
				if v, _ := opVersion(op); v < best {
					out = append(out, fmt.Sprintf("%s: client %d %s (called %s) got %s after its %s (returned %s) got v%d",
						op.Key, op.Client, op.Kind, fmtTime(op.Call), describeSeen(op), prev.Kind, fmtTime(prev.Return), best))
				}
			})
	}
	type kv struct {
		key     string
		version uint64
	}
	first := map[kv]Op{}
	for _, w := range acked {
		if w.Version == 0 {
			continue
		}
		p, ok := first[kv{w.Key, w.Version}]
		if !ok {
			first[kv{w.Key, w.Version}] = w
		} else if p.Value != w.Value {
			out = append(out, fmt.Sprintf("%s: writes %q (client %d) and %q (client %d) were both acknowledged at v%d",
				w.Key, p.Value, p.Client, w.Value, w.Client, w.Version))
		}
	}
	return out
}

// staleTokenWrites: per key, an acknowledged write whose fencing token is
// below that of an acknowledged write to the same key that returned before
// it was called: it was applied under a token older than one the store had
// already accepted (Invariant 1). Writes are the merged ones, so a replay,
// which repeats its first response's token, is judged by its first call.
func staleTokenWrites(acked []Op) []string {
	var out []string
	var tokened []Op
	for _, w := range acked {
		if w.FencingToken != 0 {
			tokened = append(tokened, w)
		}
	}
	for _, ops := range sortedOpGroups(tokened, func(op Op) string { return op.Key }, strings.Compare) {
		sweepReturnedBefore(ops, func(op Op) uint64 { return op.FencingToken }, func(w, prev Op, best uint64) {
			if w.FencingToken < best {
				out = append(out, fmt.Sprintf("%s: write %q v%d by client %d (called %s) carried token %d after write %q by client %d (returned %s) carried token %d",
					w.Key, w.Value, w.Version, w.Client, fmtTime(w.Call), w.FencingToken, prev.Value, prev.Client, fmtTime(prev.Return), best))
			}
		})
	}
	return out
}

// duplicateEffects: one idempotency key (on one object) acknowledged at two
// or more different versions: the request took effect more than once,
// where a replay must return the first response (Invariant 5).
func duplicateEffects(ops []Op) []string {
	var out []string
	type ik struct{ key, idem string }
	reported := map[ik]bool{}
	var writes []Op
	for _, op := range ops {
		if op.Kind == OpWrite && op.IdempotencyKey != "" {
			writes = append(writes, op)
		}
	}
	for _, g := range sortedOpGroups(writes, func(op Op) ik { return ik{op.Key, op.IdempotencyKey} }, func(a, b ik) int {
		return cmp.Or(strings.Compare(a.key, b.key), strings.Compare(a.idem, b.idem))
	}) {
		if vs := ackedVersions(g); len(vs) > 1 {
			out = append(out, fmt.Sprintf("%s: idempotency key %q was acknowledged at versions %v", g[0].Key, g[0].IdempotencyKey, vs))
			reported[ik{g[0].Key, g[0].IdempotencyKey}] = true
		}
	}
	// Values are unique per logical write, so one value seen at two
	// versions was applied twice, whoever held the key (a write sent with
	// no key gets the gateway's, which the client never sees).
	type kv struct{ key, value string }
	var seen []Op
	for _, op := range ops {
		if op.Outcome == OutcomeOK && op.Version != 0 && (op.Kind == OpWrite || op.Found) {
			seen = append(seen, op)
		}
	}
	for _, g := range sortedOpGroups(seen, func(op Op) kv { return kv{op.Key, op.Value} }, func(a, b kv) int {
		return cmp.Or(strings.Compare(a.key, b.key), strings.Compare(a.value, b.value))
	}) {
		if vs := ackedVersions(g); len(vs) > 1 && !slices.ContainsFunc(g, func(op Op) bool { return reported[ik{op.Key, op.IdempotencyKey}] }) {
			out = append(out, fmt.Sprintf("%s: value %q was seen at versions %v: written more than once", g[0].Key, g[0].Value, vs))
		}
	}
	return out
}

// staleLocalReads: a local read is stale if it reports a staleness bound
// above the one asked for (0 asked means the API's default, 5s), or if the
// version it returned (absent = 0) is below that of a write to the key that
// was acknowledged before Call − MaxStaleness: such a write had been
// visible for longer than the bound allows (Invariant 6).
func staleLocalReads(acked, local []Op) []string {
	var out []string
	writesByKey := groupOps(acked, func(op Op) string { return op.Key })
	for _, ops := range writesByKey {
		slices.SortFunc(ops, func(a, b Op) int { return cmp.Compare(a.Return, b.Return) })
	}
	for _, r := range local {
		bound := cmp.Or(r.MaxStaleness, defaultMaxStaleness)
		var why []string
		if r.StalenessBound > bound {
			why = append(why, fmt.Sprintf("reported a staleness bound of %s", r.StalenessBound))
		}
		if v, ok := opVersion(r); ok {
			var newest *Op
			for i, w := range writesByKey[r.Key] {
				if w.Return >= r.Call-bound {
					break
				}
				if newest == nil || w.Version > newest.Version {
					newest = &writesByKey[r.Key][i]
				}
			}
			if newest != nil && v < newest.Version {
				why = append(why, fmt.Sprintf("saw %s though write %q v%d was acknowledged at %s", describeSeen(r), newest.Value, newest.Version, fmtTime(newest.Return)))
			}
		}
		if len(why) > 0 {
			out = append(out, fmt.Sprintf("%s: local read by client %d (called %s, maxStaleness %s) %s",
				r.Key, r.Client, fmtTime(r.Call), bound, strings.Join(why, " and ")))
		}
	}
	return out
}

// sweepReturnedBefore visits ops in order of Call and, for each, passes the
// op (prev) with the highest val among those that returned strictly
// before it was called, with that value; ops with none are not visited.
// Equal times count as concurrent, as in porcupine.
func sweepReturnedBefore(ops []Op, val func(Op) uint64, visit func(op, prev Op, best uint64)) {
	byCall := slices.SortedStableFunc(slices.Values(ops), func(a, b Op) int { return cmp.Compare(a.Call, b.Call) })
	byReturn := slices.SortedStableFunc(slices.Values(ops), func(a, b Op) int { return cmp.Compare(a.Return, b.Return) })
	var best uint64
	var prev Op
	seenAny, j := false, 0
	for _, op := range byCall {
		for ; j < len(byReturn) && byReturn[j].Return < op.Call; j++ {
			if v := val(byReturn[j]); !seenAny || v > best {
				best, prev, seenAny = v, byReturn[j], true
			}
		}
		if seenAny {
			visit(op, prev, best)
		}
	}
}

func groupOps[K comparable](ops []Op, key func(Op) K) map[K][]Op {
	m := map[K][]Op{}
	for _, op := range ops {
		m[key(op)] = append(m[key(op)], op)
	}
	return m
}

// sortedOpGroups is groupOps in a fixed order of keys, so findings come out
// in the same order on every run.
func sortedOpGroups[K comparable](ops []Op, key func(Op) K, compare func(a, b K) int) [][]Op {
	m := groupOps(ops, key)
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	out := make([][]Op, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

func fmtTime(d time.Duration) string { return d.Round(time.Microsecond).String() }

func describeSeen(r Op) string {
	if r.Kind == OpRead && !r.Found {
		return "absent"
	}
	return fmt.Sprintf("%q v%d", r.Value, r.Version)
}
