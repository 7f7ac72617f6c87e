package chaos

import (
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/anishathalye/porcupine"
)

// The linearizability model: one register per key, holding the value of the
// latest write and its version. Every key starts absent, so a workload must
// use keys no earlier run wrote. Only strong reads and writes are checked
// (Invariant 7); local reads are checked against their bound instead.

// regInput is what an operation asked for.
type regInput struct {
	Key   string
	Write bool
	Value string // write: the value written
}

// regOutput is what it returned. Version 0 means no version was reported.
type regOutput struct {
	Found   bool
	Value   string
	Version uint64
	// Unknown: a write with no answer. It is given a return time after
	// every other operation, porcupine's way for a pending call, so it may be
	// linearized anywhere after its call, and at the very end amounts to not
	// having happened at all.
	Unknown bool
}

// regState is the register. The version is exact when the last write's (or
// a later read's) version is known; after a write whose version is unknown
// (it had no answer), only "greater than Version" is known.
type regState struct {
	Found   bool
	Value   string
	Version uint64
	Exact   bool
}

// RegisterModel is the porcupine model of the store's objects: a register
// per key with versions, partitioned by key. A write sets the value and
// must return a version above the current one (Invariant 4); a read must
// return the current value, and its version if the version is known.
func RegisterModel() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return regState{Exact: true} },
		Step:      stepRegister,
		Hash: func(state any) uint64 {
			s := state.(regState)
			h := fnv.New64a()
			fmt.Fprintf(h, "%t/%t/%d/%s", s.Found, s.Exact, s.Version, s.Value)
			return h.Sum64()
		},
		DescribeOperation: describeOperation,
		DescribeState:     describeState,
		DescribeOperationMetadata: func(info any) string {
			s, _ := info.(string)
			return s
		},
	}
}

func stepRegister(state, input, output any) (bool, any) {
	s, in, out := state.(regState), input.(regInput), output.(regOutput)
	if in.Write {
		next := regState{Found: true, Value: in.Value, Version: out.Version, Exact: true}
		switch {
		case out.Unknown || out.Version == 0:
			// Applied (it is linearized here), but at a version we do not
			// know: only that it is above the current one.
			next.Version, next.Exact = s.Version, false
		case out.Version <= s.Version:
			return false, s
		}
		return true, next
	}
	if out.Found != s.Found || out.Value != s.Value {
		return false, s
	}
	if !out.Found || out.Version == 0 {
		return true, s
	}
	if s.Exact {
		return out.Version == s.Version, s
	}
	if out.Version <= s.Version {
		return false, s
	}
	// The read tells us the version the unknown write got.
	s.Version, s.Exact = out.Version, true
	return true, s
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		k := op.Input.(regInput).Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	slices.Sort(keys) // a stable order of partitions in the visualisation
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

func describeOperation(input, output any) string {
	in, out := input.(regInput), output.(regOutput)
	if in.Write {
		if out.Unknown {
			return fmt.Sprintf("write(%s) -> ?", in.Value)
		}
		return fmt.Sprintf("write(%s) -> v%d", in.Value, out.Version)
	}
	if !out.Found {
		return "read() -> absent"
	}
	return fmt.Sprintf("read() -> %s@v%d", out.Value, out.Version)
}

func describeState(state any) string {
	s := state.(regState)
	switch {
	case !s.Found:
		return "absent"
	case s.Exact:
		return fmt.Sprintf("%s@v%d", s.Value, s.Version)
	default:
		return fmt.Sprintf("%s@>v%d", s.Value, s.Version)
	}
}

// porcupineOps turns the checked operations (writes that may have had an
// effect, and acknowledged strong reads) into porcupine's form.
//
// A write with no answer is pending: porcupine's way is a return time after
// every other operation, so it may take effect at any time after its call,
// and placed last amounts to never having happened. Left like that, every
// such write stays open to the end, and proving a bad history illegal means
// trying every subset of them: it times out. So, as etcd's robustness tests
// do, two rewrites that change no verdict:
//   - a pending write whose value no strong read returned is dropped: it
//     can always go last, where it affects nothing;
//   - one whose value a strong read returned must precede that read, so
//     its return time becomes the earliest such read's return.
//
// Both rely on values being unique per write; a value written twice (one
// request with two effects) is left pending to the end.
//
// Client ids are renumbered from zero in order of first appearance, as the
// visualisation wants, because the workload uses -1 for its final reads.
func porcupineOps(ops []Op) []porcupine.Operation {
	type kv struct{ key, value string }
	var last int64
	writers := map[kv]int{}
	seenBy := map[kv]int64{} // earliest return of a strong read of the value
	for _, op := range ops {
		last = max(last, int64(op.Call), int64(op.Return))
		switch {
		case op.Kind == OpWrite:
			writers[kv{op.Key, op.Value}]++
		case op.Found:
			k := kv{op.Key, op.Value}
			if t, ok := seenBy[k]; !ok || int64(op.Return) < t {
				seenBy[k] = int64(op.Return)
			}
		}
	}
	clients := map[int]int{}
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		in := regInput{Key: op.Key, Write: op.Kind == OpWrite, Value: op.Value}
		o := regOutput{Found: op.Found, Value: op.Value, Version: op.Version}
		ret := int64(op.Return)
		if in.Write {
			o = regOutput{Found: true, Value: op.Value, Version: op.Version}
		}
		if in.Write && op.Outcome == OutcomeUnknown {
			o = regOutput{Unknown: true}
			k := kv{op.Key, op.Value}
			t, seen := seenBy[k]
			switch {
			case writers[k] > 1:
				ret = last + 1
			case !seen:
				continue
			default:
				// A read "from the future" (t < call) stays unexplained,
				// which is the right verdict.
				ret = max(int64(op.Call), t)
			}
		}
		id, ok := clients[op.Client]
		if !ok {
			id = len(clients)
			clients[op.Client] = id
		}
		out = append(out, porcupine.Operation{
			ClientId: id, Input: in, Output: o,
			Call: int64(op.Call), Return: ret, Metadata: opMetadata(op),
		})
	}
	return out
}

func opMetadata(op Op) string {
	s := fmt.Sprintf("client %d, %s", op.Client, op.Outcome)
	if op.FencingToken != 0 {
		s += fmt.Sprintf(", token %d", op.FencingToken)
	}
	if op.IdempotencyKey != "" {
		s += ", idempotency key " + op.IdempotencyKey
	}
	if op.Err != "" {
		s += ": " + op.Err
	}
	return s
}
