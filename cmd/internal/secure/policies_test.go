package secure

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cpgw/cpgw/authz"
)

// The example policies in deploy/ parse, so the docs do not rot, and grant
// what their comments say.
func TestDeployPolicies(t *testing.T) {
	files, err := filepath.Glob("../../../deploy/policies/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no policies found: %v", err)
	}
	policies := map[string]*authz.Policy{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := authz.ParsePolicy(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		policies[filepath.Base(f)] = p
	}
	lp := policies["least-privilege.yaml"]
	if lp == nil {
		t.Fatal("least-privilege.yaml missing")
	}
	jwt := func(sub string, groups ...string) authz.Identity {
		return authz.Identity{Subject: sub, Groups: groups, Method: "jwt"}
	}
	obj := func(v authz.Verb, ns string) authz.Request {
		return authz.Request{Verb: v, Resource: authz.ResourceObjects, Namespace: ns, Name: "x"}
	}
	tests := []struct {
		name string
		id   authz.Identity
		req  authz.Request
		want bool
	}{
		{"sre moves a namespace", jwt("a", "sre"), authz.Request{Verb: authz.VerbPut, Resource: authz.ResourceNamespaces, Namespace: "payments"}, true},
		{"team writes its namespace", jwt("b", "payments-team"), obj(authz.VerbPut, "payments-eu"), true},
		{"team writes another namespace", jwt("b", "payments-team"), obj(authz.VerbPut, "orders"), false},
		{"team moves its namespace", jwt("b", "payments-team"), authz.Request{Verb: authz.VerbPut, Resource: authz.ResourceNamespaces, Namespace: "payments"}, false},
		{"dashboard reads the shard map", jwt("c", "dashboards"), authz.Request{Verb: authz.VerbGet, Resource: authz.ResourceShards}, true},
		{"dashboard writes", jwt("c", "dashboards"), obj(authz.VerbPut, "payments"), false},
		{"controller by certificate", authz.Identity{Subject: "spiffe://example.org/ns/limits/sa/controller", Method: "mtls"}, obj(authz.VerbPut, "limits"), true},
		{"controller deletes", authz.Identity{Subject: "spiffe://example.org/ns/limits/sa/controller", Method: "mtls"}, obj(authz.VerbDelete, "limits"), false},
		{"a token claiming the controller's name", jwt("spiffe://example.org/ns/limits/sa/controller"), obj(authz.VerbPut, "limits"), false},
		{"nobody", jwt("d"), obj(authz.VerbGet, "payments"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lp.Allowed(tt.id, tt.req); got != tt.want {
				t.Fatalf("Allowed = %v, want %v", got, tt.want)
			}
		})
	}
}
