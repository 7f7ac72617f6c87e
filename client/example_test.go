package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"

	"github.com/cpgw/cpgw/api"
	"github.com/cpgw/cpgw/client"
)

func ExampleNew() {
	gw := newDemoGateway() // stands in for a real gateway; see below
	defer gw.Close()

	// The first URL is the local region's gateway; a second one
	// (e.g. "https://gw.eu-west.example") would be the fallback.
	c, err := client.New([]string{gw.URL})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	if _, err := c.Put(ctx, "payments", "limits", map[string]int{"max": 100}); err != nil {
		log.Fatal(err)
	}
	gw.syncReplica()

	obj, err := c.Get(ctx, "payments", "limits")
	if err != nil {
		log.Fatal(err)
	}
	var limits struct {
		Max int `json:"max"`
	}
	if err := obj.Decode(&limits); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s/%s version %d: max %d (%s read)\n", obj.Namespace, obj.Name, obj.Version, limits.Max, obj.Info.Consistency)

	_, err = c.Get(ctx, "payments", "missing")
	fmt.Println("missing is ErrNotFound:", errors.Is(err, client.ErrNotFound))
	// Output:
	// payments/limits version 1: max 100 (local read)
	// missing is ErrNotFound: true
}

func ExampleClient_Put() {
	gw := newDemoGateway()
	defer gw.Close()
	c, err := client.New([]string{gw.URL})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Create-only: the second create finds the object.
	obj, err := c.Put(ctx, "payments", "limits", json.RawMessage(`{"max": 100}`), client.IfNoneMatch())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created version", obj.Version, "status", obj.Info.StatusCode)
	_, err = c.Put(ctx, "payments", "limits", json.RawMessage(`{"max": 1}`), client.IfNoneMatch())
	fmt.Println("create again:", errors.Is(err, client.ErrPreconditionFailed))

	// Compare-and-set on the version read.
	obj, err = c.Put(ctx, "payments", "limits", map[string]int{"max": 200}, client.IfMatch(obj.Version))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("updated to version", obj.Version, "status", obj.Info.StatusCode)
	_, err = c.Put(ctx, "payments", "limits", map[string]int{"max": 300}, client.IfMatch(1))
	fmt.Println("update from a stale version:", errors.Is(err, client.ErrPreconditionFailed))

	// Not an object: refused before anything is sent.
	_, err = c.Put(ctx, "payments", "limits", []int{1, 2})
	fmt.Println("array value:", errors.Is(err, client.ErrInvalid))
	// Output:
	// created version 1 status 201
	// create again: true
	// updated to version 2 status 200
	// update from a stale version: true
	// array value: true
}

func ExampleWithSession() {
	gw := newDemoGateway()
	defer gw.Close()
	plain, err := client.New([]string{gw.URL})
	if err != nil {
		log.Fatal(err)
	}
	session, err := client.New([]string{gw.URL}, client.WithSession())
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	if _, err := session.Put(ctx, "payments", "limits", map[string]int{"max": 100}); err != nil {
		log.Fatal(err)
	}
	gw.syncReplica() // the replica has version 1 ...
	if _, err := session.Put(ctx, "payments", "limits", map[string]int{"max": 200}); err != nil {
		log.Fatal(err)
	}
	// ... but not version 2. A plain local read gets the replica's copy;
	// the session's read asks for minVersion 2, which the owner serves.
	for _, c := range []struct {
		name string
		c    *client.Client
	}{{"plain", plain}, {"session", session}} {
		obj, err := c.c.Get(ctx, "payments", "limits")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: version %d (%s)\n", c.name, obj.Version, obj.Info.Consistency)
	}
	// Output:
	// plain: version 1 (local)
	// session: version 2 (strong)
}

// demoGateway is a DEMONSTRATION SERVER for the examples above, not cpgw: an
// in-memory stand-in for one gateway that speaks just enough of the
// documented HTTP API to show the client (object GET/PUT, ETag, If-Match,
// If-None-Match, consistency and minVersion). Its replica is a copy of the
// primary taken only when syncReplica is called, so it can lag on demand.
type demoGateway struct {
	*httptest.Server
	mu      sync.Mutex
	rev     uint64
	primary map[string]api.Object // by "ns/name"
	replica map[string]api.Object
}

func newDemoGateway() *demoGateway {
	g := &demoGateway{primary: map[string]api.Object{}, replica: map[string]api.Object{}}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	return g
}

func (g *demoGateway) syncReplica() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.replica = maps.Clone(g.primary)
}

func (g *demoGateway) serve(w http.ResponseWriter, r *http.Request) {
	// /v1/namespaces/{ns}/objects/{name}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/namespaces/"), "/")
	if len(parts) != 3 || parts[1] != "objects" {
		demoError(w, http.StatusNotFound, api.CodeNotFound, "no such route")
		return
	}
	ns, name := parts[0], parts[2]
	key := ns + "/" + name
	g.mu.Lock()
	defer g.mu.Unlock()
	cur, exists := g.primary[key]

	switch r.Method {
	case http.MethodGet:
		obj, ok := g.replica[key]
		consistency := api.ConsistencyLocal
		minVersion, _ := strconv.ParseUint(r.URL.Query().Get(api.QueryMinVersion), 10, 64)
		if r.URL.Query().Get(api.QueryConsistency) == api.ConsistencyStrong || obj.Metadata.Version < minVersion {
			obj, ok, consistency = cur, exists, api.ConsistencyStrong // the owner answers
		}
		if !ok {
			demoError(w, http.StatusNotFound, api.CodeNotFound, "object "+key+" not found")
			return
		}
		w.Header().Set(api.HeaderConsistency, consistency)
		demoObject(w, http.StatusOK, obj)
	case http.MethodPut:
		etag := `"` + strconv.FormatUint(cur.Metadata.Version, 10) + `"`
		if (r.Header.Get("If-None-Match") == "*" && exists) ||
			(r.Header.Get("If-Match") != "" && (!exists || r.Header.Get("If-Match") != etag)) {
			demoError(w, http.StatusPreconditionFailed, api.CodePreconditionFailed, "version mismatch")
			return
		}
		var value json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&value); err != nil {
			demoError(w, http.StatusBadRequest, api.CodeInvalidBody, err.Error())
			return
		}
		g.rev++
		obj := api.Object{Metadata: api.Metadata{Namespace: ns, Name: name, Version: g.rev}, Value: value}
		g.primary[key] = obj
		status := http.StatusOK
		if !exists {
			status = http.StatusCreated
		}
		demoObject(w, status, obj)
	default:
		demoError(w, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed, r.Method)
	}
}

func demoObject(w http.ResponseWriter, status int, obj api.Object) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", `"`+strconv.FormatUint(obj.Metadata.Version, 10)+`"`)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(obj)
}

func demoError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.Error{Code: code, Message: msg}})
}
