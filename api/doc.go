// Package api holds cpgw's wire contract: the JSON shapes, headers, error
// codes and paths of the public v1 HTTP API (DESIGN.md, "HTTP API") and of the
// internal gateway → coordinator API. It has no dependencies beyond the
// standard library, so the gateway, the coordinator and the Go SDK share one
// definition without importing each other.
package api
