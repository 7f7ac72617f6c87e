package deploy_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// targetLabels are the labels Prometheus puts on every series of a target,
// as deploy/prometheus/podmonitors.yaml scrapes cpgw. cpgw's own series
// have no region label: it comes from the pods' region label.
func targetLabels() []string {
	return []string{"job", "instance", "namespace", "pod", "container", "endpoint", "region"}
}

// exported maps each series name cpgw can export to its label names.
type exported map[string][]string

// exportedMetrics reads the metric definitions of every package of this
// module linked into cmd/cpgw: each prometheus.New<Counter|Gauge|
// Histogram|Summary>[Vec|Func] call with a literal *Opts. A definition it
// cannot read (options not written as a literal) fails the test, rather
// than leaving a metric out unnoticed.
func exportedMetrics(t *testing.T) exported {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps",
		"-f", `{{if and .Module .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{end}}`, "./cmd/cpgw")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/cpgw: %v", err)
	}
	known := exported{}
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, files, _ := strings.Cut(line, " ")
		for _, name := range strings.Fields(files) {
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range metricsInFile(fset, f, known) {
				t.Error(err)
			}
		}
	}
	if len(known) < 10 {
		t.Fatalf("found %d metrics in the code, which is too few: has the way they are defined changed?", len(known))
	}
	return known
}

// metricsInFile adds the metrics f defines to known.
func metricsInFile(fset *token.FileSet, f *ast.File, known exported) []error {
	consts := map[string]string{} // string constants, for Namespace: ns and the like
	ast.Inspect(f, func(n ast.Node) bool {
		if d, ok := n.(*ast.GenDecl); ok && d.Tok == token.CONST {
			for _, spec := range d.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := stringValue(vs.Values[i], consts); ok {
							consts[name.Name] = s
						}
					}
				}
			}
		}
		return true
	})
	var errs []error
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || (pkg.Name != "prometheus" && pkg.Name != "promauto") {
			return true
		}
		kind, ok := strings.CutPrefix(sel.Sel.Name, "New")
		kind = strings.TrimSuffix(strings.TrimSuffix(kind, "Vec"), "Func")
		if !ok || !slices.Contains([]string{"Counter", "Gauge", "Histogram", "Summary", "Untyped"}, kind) {
			return true
		}
		where := fset.Position(call.Pos())
		def, err := readMetric(call, consts)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %v", where, sel.Sel.Name, err))
			return true
		}
		if strings.HasSuffix(sel.Sel.Name, "Vec") {
			if len(call.Args) < 2 {
				errs = append(errs, fmt.Errorf("%s: %s without label names", where, sel.Sel.Name))
				return true
			}
			labels, ok := stringList(call.Args[1], consts)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: label names are not a literal []string", where))
				return true
			}
			def.labels = append(def.labels, labels...)
		}
		// The series a scrape shows for each kind.
		switch kind {
		case "Histogram":
			known[def.name+"_bucket"] = append(slices.Clone(def.labels), "le")
			known[def.name+"_sum"], known[def.name+"_count"] = def.labels, def.labels
		case "Summary":
			known[def.name] = append(slices.Clone(def.labels), "quantile")
			known[def.name+"_sum"], known[def.name+"_count"] = def.labels, def.labels
		default:
			known[def.name] = def.labels
		}
		return true
	})
	return errs
}

type metricDef struct {
	name   string
	labels []string
}

// readMetric reads the name and constant labels of a metric from the *Opts
// literal that is call's first argument.
func readMetric(call *ast.CallExpr, consts map[string]string) (metricDef, error) {
	if len(call.Args) == 0 {
		return metricDef{}, fmt.Errorf("no options")
	}
	lit, ok := call.Args[0].(*ast.CompositeLit)
	if !ok {
		return metricDef{}, fmt.Errorf("options are not a literal: cannot read the metric's name")
	}
	var ns, sub, name string
	var labels []string
	for _, e := range lit.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			return metricDef{}, fmt.Errorf("options without field names")
		}
		key, _ := kv.Key.(*ast.Ident)
		if key == nil {
			continue
		}
		switch key.Name {
		case "Namespace", "Subsystem", "Name":
			s, ok := stringValue(kv.Value, consts)
			if !ok {
				return metricDef{}, fmt.Errorf("%s is not a string constant", key.Name)
			}
			switch key.Name {
			case "Namespace":
				ns = s
			case "Subsystem":
				sub = s
			default:
				name = s
			}
		case "ConstLabels":
			m, ok := kv.Value.(*ast.CompositeLit)
			if !ok {
				return metricDef{}, fmt.Errorf("ConstLabels is not a literal")
			}
			for _, e := range m.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					return metricDef{}, fmt.Errorf("ConstLabels without names")
				}
				l, ok := stringValue(kv.Key, consts)
				if !ok {
					return metricDef{}, fmt.Errorf("a ConstLabels name is not a string constant")
				}
				labels = append(labels, l)
			}
		}
	}
	if name == "" {
		return metricDef{}, fmt.Errorf("no Name")
	}
	return metricDef{name: prometheus.BuildFQName(ns, sub, name), labels: labels}, nil
}

// stringValue evaluates a string literal, a constant of consts, or a sum of
// them.
func stringValue(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		}
	case *ast.Ident:
		s, ok := consts[e.Name]
		return s, ok
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			a, ok1 := stringValue(e.X, consts)
			b, ok2 := stringValue(e.Y, consts)
			return a + b, ok1 && ok2
		}
	case *ast.ParenExpr:
		return stringValue(e.X, consts)
	}
	return "", false
}

func stringList(e ast.Expr, consts map[string]string) ([]string, bool) {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil, false
	}
	var out []string
	for _, el := range lit.Elts {
		s, ok := stringValue(el, consts)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// query is one PromQL expression of the rules or the dashboard.
type query struct {
	where, expr string
	// label is set for a Grafana label_values(expr, label) query: label
	// must be one that expr's series carry.
	label string
}

// ruleQueries reads deploy/prometheus/rules.yaml: its expressions, the
// names it records, and what is wrong with its rules' shape.
func ruleQueries(t *testing.T) (qs []query, recorded []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "prometheus", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := yamlDocs(data)
	if err != nil || len(docs) != 1 {
		t.Fatalf("rules.yaml: want one YAML document, got %d (%v)", len(docs), err)
	}
	groups := list(field(docs[0], "spec", "groups"))
	if len(groups) == 0 {
		t.Fatal("rules.yaml: no spec.groups")
	}
	for _, g := range groups {
		for _, r := range list(field(g, "rules")) {
			name := str(field(r, "record")) + str(field(r, "alert"))
			where := fmt.Sprintf("rules.yaml: group %s, %s", field(g, "name"), name)
			switch {
			case field(r, "record") != nil:
				// Prometheus's naming convention, level:metric:operations,
				// also keeps recorded names apart from exported ones.
				if strings.Count(name, ":") != 2 {
					t.Errorf("%s: a recorded name should read level:metric:operations", where)
				}
				recorded = append(recorded, name)
			case field(r, "alert") != nil:
				if str(field(r, "labels", "severity")) == "" || str(field(r, "annotations", "summary")) == "" {
					t.Errorf("%s: an alert needs labels.severity and annotations.summary", where)
				}
			default:
				t.Errorf("%s: a rule is a record or an alert", where)
			}
			qs = append(qs, query{where: where, expr: str(field(r, "expr"))})
		}
	}
	return qs, recorded
}

// dashboardQueries reads the queries of deploy/grafana/cpgw.json: its
// panels' targets (rows' panels included) and its query variables.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "grafana", "cpgw.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("cpgw.json: %v", err)
	}
	var qs []query
	var walk func(panels []any)
	walk = func(panels []any) {
		for _, p := range panels {
			for _, tg := range list(field(p, "targets")) {
				qs = append(qs, query{where: fmt.Sprintf("cpgw.json: panel %q, target %s", field(p, "title"), field(tg, "refId")), expr: str(field(tg, "expr"))})
			}
			walk(list(field(p, "panels")))
		}
	}
	walk(list(dash["panels"]))
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_]\w*)\)$`)
	for _, v := range list(field(dash, "templating", "list")) {
		if field(v, "type") != "query" {
			continue
		}
		q := str(field(v, "query"))
		if q == "" {
			q = str(field(v, "query", "query"))
		}
		where := fmt.Sprintf("cpgw.json: variable %s", field(v, "name"))
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			t.Errorf("%s: %q: only label_values(metric, label) is checked here", where, q)
			continue
		}
		qs = append(qs, query{where: where, expr: m[1], label: m[2]})
	}
	return qs
}

// TestMetricNames checks that every series the Prometheus rules and the
// Grafana dashboard read is one cpgw exports (or one the rules record, or
// Prometheus's own up), and that every label they match on is one those
// series carry.
func TestMetricNames(t *testing.T) {
	known := exportedMetrics(t)
	rules, recorded := ruleQueries(t)
	dash := dashboardQueries(t)
	for name, want := range map[string]int{"rules.yaml": len(rules), "cpgw.json": len(dash)} {
		if want < 5 {
			t.Errorf("%s: %d queries found, which is too few to be right", name, want)
		}
	}
	for _, q := range append(rules, dash...) {
		sels, err := promqlSelectors(q.expr)
		switch {
		case err != nil:
			t.Errorf("%s: %q: %v", q.where, q.expr, err)
			continue
		case len(sels) == 0:
			t.Errorf("%s: %q reads no metric", q.where, q.expr)
		}
		for _, s := range sels {
			labels, ok := known[s.metric]
			switch {
			case ok:
			case slices.Contains(recorded, s.metric):
				labels = nil // whatever the rule kept; target labels at least
			case s.metric == "up":
				labels = nil
			default:
				t.Errorf("%s: %s is not a metric cpgw exports", q.where, s.metric)
				continue
			}
			labels = append(slices.Clone(labels), targetLabels()...)
			for _, l := range append(s.labels, q.label) {
				if l != "" && !slices.Contains(labels, l) {
					t.Errorf("%s: %s has no label %q (it has %v)", q.where, s.metric, l, labels)
				}
			}
		}
	}
}
