// Package client is the Go SDK for cpgw gateways: a thin layer over the v1
// HTTP API (DESIGN.md, "HTTP API") that adds retries with idempotency keys,
// gateway failover, typed errors and read-your-writes sessions.
//
// A Client is built from a list of gateway URLs. The first is the preferred
// gateway, normally the one in the caller's own region; the others are
// fallbacks that are used only while the preferred one fails.
//
//	c, err := client.New([]string{"https://gw.us-east.example", "https://gw.eu-west.example"},
//		client.WithBearerToken(token),
//		client.WithSession(),
//	)
//	if err != nil { ... }
//	obj, err := c.Put(ctx, "payments", "limits", map[string]int{"max": 100}, client.IfNoneMatch())
//	switch {
//	case errors.Is(err, client.ErrPreconditionFailed):
//		// it already exists
//	case err != nil:
//		return err
//	}
//	obj, err = c.Get(ctx, "payments", "limits") // sees the write: the session sends minVersion
//
// # Retries
//
// Every call retries transient failures until it succeeds, its context ends
// or the retry budget (WithRetry) is spent:
//
//   - a connection error (including the HTTP client's timeout), 421, 502, 503
//     or 504 moves on to the next gateway;
//   - 429 and 409 idempotency_in_flight wait and try the same gateway again;
//   - a Retry-After header is the minimum wait before asking that gateway again;
//   - no other status is retried;
//   - a wait that would end after the context's deadline or outside the retry
//     budget is not started: the call returns at once.
//
// Reads are safe to retry. Object writes (Put, Delete) are retried only
// because every write carries an Idempotency-Key: the caller's (IdempotencyKey)
// or one the client generates for that call. The same key is sent on every
// attempt, to every gateway, so a write that reached the store before its
// response was lost is applied once and the retry gets the first response
// back (ResponseInfo.Replayed). SetNamespace sends a key too, but the server
// records none for settings: a retry is safe because it replaces the
// settings whole with the same ones, not because it is replayed; a change
// someone else made in between is overwritten.
//
// # Failover
//
// A call starts at the gateway that answered last and moves on to the next
// one in the list when a gateway cannot be reached or answers 421, 502, 503
// or 504. Once a fallback has answered, later calls stay on it until the
// failback interval (WithFailbackAfter, default 30 s) has passed; the next
// call then tries the preferred gateway first again. There are no background
// probes.
//
// # Sessions
//
// WithSession makes a Client read its own writes: after a write it sends the
// written version as minVersion on later reads of that object (and the
// highest written in a namespace on lists), so a lagging replica does not
// answer them; the owner does. Without it, local reads may miss the
// Client's own recent writes within the staleness bound.
//
// # Errors
//
// Errors returned by the server are *Error values; errors.Is maps them to the
// sentinel errors (ErrNotFound, ErrPreconditionFailed, ...) by status code,
// and errors.As gives the code, message, request id and Retry-After. Bad
// arguments are refused before anything is sent, with errors that match
// ErrInvalid. When retries run out the error matches ErrUnavailable as well as
// the last attempt's error.
package client
