package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/cpgw/cpgw/api"
)

// Errors of this package.
var (
	// ErrConfig is wrapped by every error Config.Validate and New return
	// for an unusable configuration.
	ErrConfig = errors.New("coordinator: invalid config")
	// ErrRunning is returned by a second call of Run: a Coordinator runs
	// once.
	ErrRunning = errors.New("coordinator: Run called more than once")

	// errQueueFull: the shard's writer has QueueDepth operations waiting.
	errQueueFull = errors.New("coordinator: shard queue full")
	// errDraining: the coordinator is stopping and accepts no new writes.
	errDraining = errors.New("coordinator: stopping")
	// errLeaseEnded: the writer's lease ended; it accepts nothing more.
	errLeaseEnded = errors.New("coordinator: lease ended")
)

// apiError is an error answered to a request: the HTTP status and the
// api.ErrorBody that goes with it.
type apiError struct {
	status int
	code   string
	msg    string
	owner  *api.Owner // set on 421 when the current owner is known
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

// reply turns the error into a response. 503 and 429 carry Retry-After so
// that gateways and clients back off rather than hammer a shard that has no
// owner at the moment.
func (e *apiError) reply() reply {
	rep := reply{
		status: e.status,
		body:   api.ErrorBody{Error: api.Error{Code: e.code, Message: e.msg}, Owner: e.owner},
	}
	if e.status == http.StatusServiceUnavailable || e.status == http.StatusTooManyRequests {
		rep.header = http.Header{api.HeaderRetryAfter: []string{"1"}}
	}
	return rep
}

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(code, format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, code, format, args...)
}

func unavailable(format string, args ...any) *apiError {
	return newError(http.StatusServiceUnavailable, api.CodeUnavailable, format, args...)
}

func noOwner(format string, args ...any) *apiError {
	return newError(http.StatusServiceUnavailable, api.CodeNoOwner, format, args...)
}

// misdirected is the 421 for a shard this coordinator does not own (or no
// longer owns). It names the shard's current owner as the store sees it, so
// the gateway can go there directly.
func (c *Coordinator) misdirected(ctx context.Context, shard int, format string, args ...any) *apiError {
	e := newError(http.StatusMisdirectedRequest, api.CodeMisdirected, format, args...)
	e.owner = c.ownerOf(ctx, shard)
	return e
}

// ownerOf returns the holder of a shard's lease, or nil when nobody else
// holds it or the store cannot say.
func (c *Coordinator) ownerOf(ctx context.Context, shard int) *api.Owner {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	defer cancel()
	states, err := c.st.Leases(ctx, []int{shard})
	if err != nil || len(states) != 1 {
		return nil
	}
	s := states[0]
	// Naming ourselves would send the gateway straight back here.
	if !s.Held || s.Lease.Owner == c.cfg.ID {
		return nil
	}
	return &api.Owner{
		ID:           s.Lease.Owner,
		Region:       s.Lease.Region,
		Address:      s.Lease.Address,
		FencingToken: uint64(s.Lease.Token),
	}
}

// refusal is the answer to an operation a writer would not queue.
func (c *Coordinator) refusal(ctx context.Context, shard int, err error) *apiError {
	switch {
	case errors.Is(err, errQueueFull):
		return newError(http.StatusTooManyRequests, api.CodeOverloaded, "shard %d has too many pending writes", shard)
	case errors.Is(err, errDraining):
		return noOwner("coordinator %s is stopping; shard %d is being handed over", c.cfg.ID, shard)
	default:
		return c.misdirected(ctx, shard, "coordinator %s no longer owns shard %d", c.cfg.ID, shard)
	}
}
