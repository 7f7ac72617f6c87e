package api

import (
	"net/url"
	"strconv"
)

// Public routes (chi patterns).
const (
	RouteObject    = "/v1/namespaces/{ns}/objects/{name}"
	RouteObjects   = "/v1/namespaces/{ns}/objects"
	RouteWatch     = "/v1/namespaces/{ns}/watch"
	RouteNamespace = "/v1/namespaces/{ns}"
	RouteShards    = "/v1/shards"
)

// Internal gateway → coordinator routes. The version segment changes when the
// internal contract does, so gateways and coordinators of adjacent releases
// can tell each other apart. The gateway names the shard it routed to; the
// coordinator answers 421 if it does not own it.
const (
	InternalPrefix         = "/internal/v1"
	RouteInternalObject    = InternalPrefix + "/shards/{shard}/namespaces/{ns}/objects/{name}"
	RouteInternalObjects   = InternalPrefix + "/shards/{shard}/namespaces/{ns}/objects"
	RouteInternalNamespace = InternalPrefix + "/shards/{shard}/namespaces/{ns}"
)

// InternalObjectPath is the coordinator path of one object on a shard.
func InternalObjectPath(shard int, ns, name string) string {
	return InternalPrefix + "/shards/" + strconv.Itoa(shard) + "/namespaces/" + url.PathEscape(ns) + "/objects/" + url.PathEscape(name)
}

// InternalObjectsPath is the coordinator path of a namespace's objects.
func InternalObjectsPath(shard int, ns string) string {
	return InternalPrefix + "/shards/" + strconv.Itoa(shard) + "/namespaces/" + url.PathEscape(ns) + "/objects"
}

// InternalNamespacePath is the coordinator path of a namespace's settings.
func InternalNamespacePath(shard int, ns string) string {
	return InternalPrefix + "/shards/" + strconv.Itoa(shard) + "/namespaces/" + url.PathEscape(ns)
}
