package secure

import (
	"log/slog"
	"net/http"
	"time"
)

// Server limits: a slow or stalled client cannot hold a connection (or a
// goroutine) for long, and headers cannot grow without bound. Bodies are
// limited per route by the handlers (api.MaxBodyBytes).
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewServer returns an http.Server for h with the limits above. Its error
// log (TLS handshake failures, malformed requests) goes to log at level.
func NewServer(h http.Handler, log *slog.Logger, level slog.Level) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), level),
	}
}
