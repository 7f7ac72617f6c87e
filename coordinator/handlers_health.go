package coordinator

import (
	"context"
	"net/http"
)

type status struct {
	Status string `json:"status"`
}

// handleHealthz answers 200 while the process serves HTTP at all.
func (c *Coordinator) handleHealthz(w http.ResponseWriter, r *http.Request) {
	send(w, r, reply{status: http.StatusOK, body: status{Status: "ok"}})
}

// handleReadyz answers 200 when the coordinator can take traffic: Run has
// started, it is not stopping, its membership heartbeat is alive and the
// store answers now.
func (c *Coordinator) handleReadyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case c.shardCount() == 0:
		sendError(w, r, unavailable("coordinator %s is starting", c.cfg.ID))
		return
	case c.failed.Load():
		sendError(w, r, unavailable("coordinator %s stopped: the store lost its state", c.cfg.ID))
		return
	case c.draining.Load():
		sendError(w, r, unavailable("coordinator %s is stopping", c.cfg.ID))
		return
	case !c.member():
		sendError(w, r, unavailable("coordinator %s has not joined the cluster", c.cfg.ID))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.StoreTimeout)
	defer cancel()
	if _, err := c.st.Regions(ctx); err != nil {
		logger(r.Context()).Warn("readiness: store unreachable", "err", err)
		sendError(w, r, unavailable("the store does not answer"))
		return
	}
	send(w, r, reply{status: http.StatusOK, body: status{Status: "ready"}})
}
