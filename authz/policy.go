package authz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cpgw/cpgw/api"
)

// Verb is what a request does.
type Verb string

// Verbs. VerbAdmin in a rule grants every verb on the rule's resources.
const (
	VerbGet    Verb = "get"
	VerbList   Verb = "list"
	VerbWatch  Verb = "watch"
	VerbPut    Verb = "put"
	VerbDelete Verb = "delete"
	VerbAdmin  Verb = "admin"
)

// Resource is what a request acts on.
type Resource string

// Resources.
const (
	ResourceObjects    Resource = "objects"
	ResourceNamespaces Resource = "namespaces"
	ResourceShards     Resource = "shards" // cluster-scoped
)

// Request is what an authorisation decision is about.
type Request struct {
	Verb     Verb
	Resource Resource
	// Namespace is "" for cluster-scoped requests (shards).
	Namespace string
	// Name is the object, if any. Rules do not match on it; it is recorded
	// in audit records.
	Name string
}

var verbBits = map[Verb]uint8{VerbGet: 1, VerbList: 2, VerbWatch: 4, VerbPut: 8, VerbDelete: 16, VerbAdmin: 32}

const allVerbs = 63

var resourceBits = map[Resource]uint8{ResourceObjects: 1, ResourceNamespaces: 2, ResourceShards: 4}

// Policy is a parsed RBAC policy: roles of rules, bound to subjects. It
// denies whatever no rule allows. A Policy is immutable and safe for
// concurrent use.
type Policy struct {
	// The rules bound to each subject, by subject kind.
	users, groups, certs map[string][]*rule
}

// rule is one compiled policy rule.
type rule struct {
	verbs, resources uint8
	anyNamespace     bool
	exact            map[string]bool
	prefixes         []string
}

func (r *rule) allows(verb, resource uint8, ns string) bool {
	if r.verbs&verb == 0 || r.resources&resource == 0 {
		return false
	}
	if r.anyNamespace {
		return true
	}
	// A cluster-scoped request needs "*": a namespace-scoped grant must
	// not reach the shard map.
	if ns == "" {
		return false
	}
	if r.exact[ns] {
		return true
	}
	for _, p := range r.prefixes {
		if strings.HasPrefix(ns, p) {
			return true
		}
	}
	return false
}

// Allowed reports whether a rule bound to id allows req. A MethodJWT
// identity matches "user:<sub>" and "group:<group>" subjects, a MethodMTLS
// identity only "cert:<identity>". A nil Policy, an identity of another
// method, an unknown verb or resource: false.
func (p *Policy) Allowed(id Identity, req Request) bool {
	if p == nil || id.Subject == "" {
		return false
	}
	verb, ok := verbBits[req.Verb]
	if !ok {
		return false
	}
	resource, ok := resourceBits[req.Resource]
	if !ok {
		return false
	}
	granted := func(rules []*rule) bool {
		for _, r := range rules {
			if r.allows(verb, resource, req.Namespace) {
				return true
			}
		}
		return false
	}
	switch id.Method {
	case MethodJWT:
		if granted(p.users[id.Subject]) {
			return true
		}
		for _, g := range id.Groups {
			if g != "" && granted(p.groups[g]) {
				return true
			}
		}
	case MethodMTLS:
		return granted(p.certs[id.Subject])
	}
	return false
}

// maxFileBytes bounds every file this package reads (JWKS, policy, keys):
// they are small, and a huge one is a mistake, not something to buffer.
const maxFileBytes = 1 << 20

// maxPolicyBytes bounds a policy document.
const maxPolicyBytes = maxFileBytes

// The YAML shape of a policy.
type policyDoc struct {
	Roles    []roleDoc    `yaml:"roles"`
	Bindings []bindingDoc `yaml:"bindings"`
}

type roleDoc struct {
	Name  string    `yaml:"name"`
	Rules []ruleDoc `yaml:"rules"`
}

type ruleDoc struct {
	Verbs      []string `yaml:"verbs"`
	Resources  []string `yaml:"resources"`
	Namespaces []string `yaml:"namespaces"`
}

type bindingDoc struct {
	Role     string   `yaml:"role"`
	Subjects []string `yaml:"subjects"`
}

// maxPolicyErrors bounds how many problems one error lists.
const maxPolicyErrors = 20

// ParsePolicy parses a YAML RBAC policy. Unknown fields, verbs, resources
// and subject kinds, namespace patterns other than a name, "*" or a prefix
// ending in "*", duplicate role names, bindings to undefined roles and empty
// lists are errors, wrapping ErrInvalidPolicy and naming the place, e.g.
// roles[1].rules[0].verbs[2]: unknown verb "wrtie".
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > maxPolicyBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidPolicy, maxPolicyBytes)
	}
	var doc policyDoc
	if err := decodeYAML(b, &doc); err != nil {
		return nil, err
	}
	var errs []error
	bad := func(format string, args ...any) {
		if len(errs) < maxPolicyErrors {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	p := &Policy{users: map[string][]*rule{}, groups: map[string][]*rule{}, certs: map[string][]*rule{}}
	roles := make(map[string][]*rule, len(doc.Roles))
	if len(doc.Roles) == 0 {
		bad("roles: at least one role is required")
	}
	for i, rd := range doc.Roles {
		at := fmt.Sprintf("roles[%d]", i)
		if rd.Name == "" {
			bad("%s.name: required", at)
		} else if _, dup := roles[rd.Name]; dup {
			bad("%s.name: duplicate role %q", at, rd.Name)
		}
		if len(rd.Rules) == 0 {
			bad("%s.rules: at least one rule is required", at)
		}
		rules := make([]*rule, 0, len(rd.Rules))
		for j, d := range rd.Rules {
			rules = append(rules, compileRule(fmt.Sprintf("%s.rules[%d]", at, j), d, bad))
		}
		if rd.Name != "" {
			if _, dup := roles[rd.Name]; !dup {
				roles[rd.Name] = rules
			}
		}
	}
	if len(doc.Bindings) == 0 {
		bad("bindings: at least one binding is required")
	}
	for i, bd := range doc.Bindings {
		at := fmt.Sprintf("bindings[%d]", i)
		rules, ok := roles[bd.Role]
		switch {
		case bd.Role == "":
			bad("%s.role: required", at)
		case !ok:
			bad("%s.role: undefined role %q", at, bd.Role)
		}
		if len(bd.Subjects) == 0 {
			bad("%s.subjects: at least one subject is required", at)
		}
		for j, s := range bd.Subjects {
			kind, name, _ := strings.Cut(s, ":")
			var m map[string][]*rule
			switch kind {
			case "user":
				m = p.users
			case "group":
				m = p.groups
			case "cert":
				m = p.certs
			default:
				bad("%s.subjects[%d]: %q: want user:<sub>, group:<group> or cert:<certificate identity>", at, j, s)
				continue
			}
			if name == "" {
				bad("%s.subjects[%d]: %q names nobody", at, j, s)
				continue
			}
			m[name] = append(m[name], rules...)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, errors.Join(errs...))
	}
	return p, nil
}

// decodeYAML decodes exactly one YAML document into doc, refusing unknown
// fields.
func decodeYAML(b []byte, doc *policyDoc) (err error) {
	// The YAML decoder is large and parses untrusted-shaped input; a panic
	// in it must not take a reloading gateway down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: YAML decoder failed: %v", ErrInvalidPolicy, r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty document", ErrInvalidPolicy)
		}
		return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: more than one YAML document", ErrInvalidPolicy)
	}
	return nil
}

// compileRule checks and compiles one rule; at is its place for messages.
func compileRule(at string, d ruleDoc, bad func(string, ...any)) *rule {
	r := &rule{exact: map[string]bool{}}
	if len(d.Verbs) == 0 {
		bad("%s.verbs: at least one verb is required", at)
	}
	for i, v := range d.Verbs {
		bit, ok := verbBits[Verb(v)]
		if !ok {
			bad("%s.verbs[%d]: unknown verb %q", at, i, v)
			continue
		}
		if Verb(v) == VerbAdmin {
			bit = allVerbs
		}
		r.verbs |= bit
	}
	if len(d.Resources) == 0 {
		bad("%s.resources: at least one resource is required", at)
	}
	for i, res := range d.Resources {
		bit, ok := resourceBits[Resource(res)]
		if !ok {
			bad("%s.resources[%d]: unknown resource %q", at, i, res)
			continue
		}
		r.resources |= bit
	}
	if len(d.Namespaces) == 0 {
		bad("%s.namespaces: at least one namespace pattern is required (\"*\" for all)", at)
	}
	for i, ns := range d.Namespaces {
		switch prefix, isPrefix := strings.CutSuffix(ns, "*"); {
		case ns == "*":
			r.anyNamespace = true
		case isPrefix && validNamePrefix(prefix):
			r.prefixes = append(r.prefixes, prefix)
		case !isPrefix && api.ValidName(ns):
			r.exact[ns] = true
		default:
			bad("%s.namespaces[%d]: %q: want a namespace name, \"*\", or a name prefix ending in \"*\"", at, i, ns)
		}
	}
	return r
}

// validNamePrefix reports whether p can begin a namespace name (see
// api.NamePattern), so that a prefix pattern can match something.
func validNamePrefix(p string) bool {
	if p == "" || len(p) >= api.MaxNameLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}
