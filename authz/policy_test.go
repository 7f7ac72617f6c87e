package authz

import (
	"errors"
	"strings"
	"testing"
)

const testPolicy = `
roles:
  - name: reader
    rules:
      - verbs: [get, list, watch]
        resources: [objects, namespaces, shards]
        namespaces: ["*"]
  - name: payments-writer
    rules:
      - verbs: [get, list, put, delete]
        resources: [objects]
        namespaces: ["payments", "payments-*"]
  - name: operator
    rules:
      - verbs: [admin]
        resources: [objects, namespaces, shards]
        namespaces: ["*"]
  - name: orders-admin
    rules:
      - verbs: [admin]
        resources: [objects]
        namespaces: ["orders"]
  - name: controller
    rules:
      - verbs: [put]
        resources: [objects]
        namespaces: ["limits"]
bindings:
  - role: reader
    subjects: ["group:readers", "user:alice", "cert:spiffe://example/ops"]
  - role: payments-writer
    subjects: ["group:payments-team"]
  - role: operator
    subjects: ["group:sre"]
  - role: orders-admin
    subjects: ["user:olga"]
  - role: controller
    subjects: ["cert:spiffe://example/controller", "cert:legacy-controller"]
`

func TestPolicyAllowed(t *testing.T) {
	p, err := ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	user := func(sub string, groups ...string) Identity {
		return Identity{Subject: sub, Groups: groups, Method: MethodJWT}
	}
	cert := func(sub string) Identity { return Identity{Subject: sub, Method: MethodMTLS} }
	obj := func(v Verb, ns string) Request {
		return Request{Verb: v, Resource: ResourceObjects, Namespace: ns, Name: "o"}
	}
	shards := Request{Verb: VerbGet, Resource: ResourceShards}
	tests := []struct {
		name string
		id   Identity
		req  Request
		want bool
	}{
		{"reader reads", user("x", "readers"), obj(VerbGet, "orders"), true},
		{"reader lists", user("x", "readers"), obj(VerbList, "orders"), true},
		{"reader watches", user("x", "readers"), obj(VerbWatch, "payments"), true},
		{"reader writes", user("x", "readers"), obj(VerbPut, "orders"), false},
		{"reader deletes", user("x", "readers"), obj(VerbDelete, "orders"), false},
		{"reader moves a namespace", user("x", "readers"), Request{Verb: VerbPut, Resource: ResourceNamespaces, Namespace: "orders"}, false},
		{"reader by user binding", user("alice"), obj(VerbGet, "orders"), true},
		{"reader reads shards", user("x", "readers"), shards, true},
		{"scoped writer in payments", user("p", "payments-team"), obj(VerbPut, "payments"), true},
		{"scoped writer in payments-eu", user("p", "payments-team"), obj(VerbPut, "payments-eu"), true},
		{"scoped writer in orders", user("p", "payments-team"), obj(VerbPut, "orders"), false},
		{"scoped writer in paymentsx", user("p", "payments-team"), obj(VerbPut, "paymentsx"), false},
		{"scoped writer watches (not granted)", user("p", "payments-team"), obj(VerbWatch, "payments"), false},
		{"scoped writer and shards", user("p", "payments-team"), shards, false},
		{"scoped admin and shards", user("olga"), shards, false},
		{"scoped writer, cluster-scoped object request", user("p", "payments-team"), obj(VerbGet, ""), false},
		{"admin verb grants put", user("olga"), obj(VerbPut, "orders"), true},
		{"admin verb grants delete", user("olga"), obj(VerbDelete, "orders"), true},
		{"admin verb grants watch", user("olga"), obj(VerbWatch, "orders"), true},
		{"admin verb stays in its namespace", user("olga"), obj(VerbGet, "payments"), false},
		{"admin verb stays on its resources", user("olga"), Request{Verb: VerbPut, Resource: ResourceNamespaces, Namespace: "orders"}, false},
		{"operator everything", user("s", "sre"), Request{Verb: VerbPut, Resource: ResourceNamespaces, Namespace: "x"}, true},
		{"operator shards", user("s", "sre"), shards, true},
		{"cert by URI", cert("spiffe://example/controller"), obj(VerbPut, "limits"), true},
		{"cert by CN", cert("legacy-controller"), obj(VerbPut, "limits"), true},
		{"cert bound to reader", cert("spiffe://example/ops"), obj(VerbGet, "orders"), true},
		{"cert does not match user:", cert("alice"), obj(VerbGet, "orders"), false},
		{"token does not match cert:", user("spiffe://example/controller"), obj(VerbPut, "limits"), false},
		{"token group named like a cert", user("x", "spiffe://example/ops"), obj(VerbGet, "orders"), false},
		{"unknown method", Identity{Subject: "alice", Method: "basic"}, obj(VerbGet, "orders"), false},
		{"unknown verb", user("s", "sre"), Request{Verb: "patch", Resource: ResourceObjects, Namespace: "x"}, false},
		{"unknown resource", user("s", "sre"), Request{Verb: VerbGet, Resource: "secrets", Namespace: "x"}, false},
		{"nobody", user("d"), obj(VerbGet, "orders"), false},
		{"empty subject", user("", "sre"), obj(VerbGet, "orders"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Allowed(tt.id, tt.req); got != tt.want {
				t.Fatalf("Allowed(%+v, %+v) = %v, want %v", tt.id, tt.req, got, tt.want)
			}
		})
	}
	var nilPolicy *Policy
	if nilPolicy.Allowed(user("s", "sre"), shards) {
		t.Error("a nil policy allowed a request")
	}
}

func TestParsePolicyErrors(t *testing.T) {
	const role = "roles:\n  - name: r\n    rules:\n      - verbs: [get]\n        resources: [objects]\n        namespaces: [\"*\"]\n"
	const binding = "bindings:\n  - role: r\n    subjects: [\"user:a\"]\n"
	tests := []struct{ name, doc, want string }{
		{"empty", "", "empty document"},
		{"unknown verb", `
roles:
  - name: a
    rules:
      - {verbs: [get], resources: [objects], namespaces: ["*"]}
  - name: b
    rules:
      - {verbs: [get, list, wrtie], resources: [objects], namespaces: ["*"]}
` + binding, `roles[1].rules[0].verbs[2]: unknown verb "wrtie"`},
		{"unknown resource", strings.Replace(role, "[objects]", "[objects, secrets]", 1) + binding, `roles[0].rules[0].resources[1]: unknown resource "secrets"`},
		{"verb in another case", strings.Replace(role, "[get]", "[Get]", 1) + binding, `roles[0].rules[0].verbs[0]: unknown verb "Get"`},
		{"typo in a field", strings.Replace(role, "namespaces:", "namespace:", 1) + binding, "field namespace not found"},
		{"unknown top-level field", role + binding + "extra: 1\n", "field extra not found"},
		{"unknown subject kind", role + "bindings:\n  - role: r\n    subjects: [\"team:x\"]\n", `bindings[0].subjects[0]: "team:x": want user:<sub>, group:<group> or cert:<certificate identity>`},
		{"subject without kind", role + "bindings:\n  - role: r\n    subjects: [\"alice\"]\n", `bindings[0].subjects[0]: "alice": want user:`},
		{"subject without name", role + "bindings:\n  - role: r\n    subjects: [\"group:\"]\n", `bindings[0].subjects[0]: "group:" names nobody`},
		{"undefined role", role + "bindings:\n  - role: writer\n    subjects: [\"user:a\"]\n", `bindings[0].role: undefined role "writer"`},
		{"binding without role", role + "bindings:\n  - subjects: [\"user:a\"]\n", "bindings[0].role: required"},
		{"duplicate role", role + strings.TrimPrefix(role, "roles:\n") + binding, `roles[1].name: duplicate role "r"`},
		{"role without name", strings.Replace(role, "name: r", "name: \"\"", 1) + binding, "roles[0].name: required"},
		{"no roles", "roles: []\n" + binding, "roles: at least one role is required"},
		{"no bindings", role, "bindings: at least one binding is required"},
		{"no rules", "roles:\n  - name: r\n    rules: []\n" + binding, "roles[0].rules: at least one rule is required"},
		{"no verbs", strings.Replace(role, "[get]", "[]", 1) + binding, "roles[0].rules[0].verbs: at least one verb is required"},
		{"no resources", strings.Replace(role, "[objects]", "[]", 1) + binding, "roles[0].rules[0].resources: at least one resource is required"},
		{"no namespaces", strings.Replace(role, `["*"]`, "[]", 1) + binding, "roles[0].rules[0].namespaces: at least one namespace pattern is required"},
		{"no subjects", role + "bindings:\n  - role: r\n    subjects: []\n", "bindings[0].subjects: at least one subject is required"},
		{"infix wildcard", strings.Replace(role, `["*"]`, `["pay*ments"]`, 1) + binding, `roles[0].rules[0].namespaces[0]: "pay*ments": want a namespace name, "*", or a name prefix ending in "*"`},
		{"leading wildcard", strings.Replace(role, `["*"]`, `["*-eu"]`, 1) + binding, `namespaces[0]: "*-eu"`},
		{"double wildcard", strings.Replace(role, `["*"]`, `["**"]`, 1) + binding, `namespaces[0]: "**"`},
		{"regexp", strings.Replace(role, `["*"]`, `["pay[a-z]*"]`, 1) + binding, `namespaces[0]: "pay[a-z]*"`},
		{"invalid name", strings.Replace(role, `["*"]`, `["Payments"]`, 1) + binding, `namespaces[0]: "Payments"`},
		{"scalar where a list goes", strings.Replace(role, "[get]", "get", 1) + binding, "cannot unmarshal"},
		{"two documents", role + binding + "---\n" + role + binding, "more than one YAML document"},
		{"not YAML", "roles: [", "invalid policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tt.doc))
			if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParsePolicy = %v, %v; want ErrInvalidPolicy with %q", p, err, tt.want)
			}
		})
	}
	if _, err := ParsePolicy([]byte(role + binding)); err != nil {
		t.Fatalf("the base document of these cases: %v", err)
	}
}
