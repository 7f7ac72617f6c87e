// Package deploy_test keeps deploy/ true to the code it deploys: every
// argument of a cpgw container is a flag of its subcommand with a value the
// flag accepts (checked against the real binary), every kustomization names
// files that exist, and every metric the Prometheus rules and the Grafana
// dashboard query is one that cpgw exports.
package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the module root: the parent of this package's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// buildCPGW builds ./cmd/cpgw into a temporary directory and returns the
// binary's path.
func buildCPGW(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cpgw")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cpgw")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/cpgw: %v\n%s", err, out)
	}
	return bin
}

// yamlDocs decodes every document of a YAML stream (anchors resolved).
func yamlDocs(data []byte) ([]map[string]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// filesUnder lists the files under dir whose names end in one of exts,
// as paths relative to dir.
func filesUnder(t *testing.T, dir string, exts ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, ext := range exts {
			if strings.HasSuffix(path, ext) {
				rel, err := filepath.Rel(dir, path)
				out = append(out, rel)
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The helpers below walk decoded YAML and JSON (maps, slices, scalars)
// without a type assertion at every step: a missing or mistyped field reads
// as the zero value.

// field follows keys through nested maps.
func field(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func strs(v any) []string {
	var out []string
	for _, e := range list(v) {
		out = append(out, str(e))
	}
	return out
}
