package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kustomizationRefs lists the paths a kustomization names, relative to its
// directory, with what names each: resources and components (files or
// directories), patches, and the files of ConfigMap and Secret generators.
func kustomizationRefs(k map[string]any) (refs map[string]string, err error) {
	refs = map[string]string{}
	add := func(what, p string) {
		if p != "" {
			refs[p] = what
		}
	}
	for _, key := range []string{"resources", "components", "bases", "patchesStrategicMerge", "crds", "configurations"} {
		for _, p := range strs(k[key]) {
			add(key, p)
		}
	}
	for _, key := range []string{"patches", "patchesJson6902"} {
		for _, p := range list(k[key]) {
			add(key, str(field(p, "path")))
		}
	}
	for _, key := range []string{"configMapGenerator", "secretGenerator"} {
		for _, g := range list(k[key]) {
			for _, f := range strs(field(g, "files")) {
				if _, file, ok := strings.Cut(f, "="); ok { // key=path
					f = file
				}
				add(key+" files", f)
			}
			for _, f := range append(strs(field(g, "envs")), str(field(g, "env"))) {
				add(key+" envs", f)
			}
		}
	}
	for p := range refs {
		if strings.Contains(p, "://") || strings.HasPrefix(p, "github.com/") {
			return nil, fmt.Errorf("remote reference %q: keep deploy/ self-contained", p)
		}
	}
	return refs, nil
}

// TestKustomizations checks that every kustomization under deploy/k8s
// names only files and directories that exist (a directory must hold a
// kustomization), and that every file under deploy/k8s is named by one:
// a manifest nothing includes is never applied.
func TestKustomizations(t *testing.T) {
	root := filepath.Join(repoRoot(t), "deploy", "k8s")
	used := map[string]bool{}
	var kustomizations []string
	for _, f := range filesUnder(t, root, "") {
		if filepath.Base(f) == "kustomization.yaml" {
			kustomizations = append(kustomizations, f)
		}
	}
	if len(kustomizations) < 3 {
		t.Fatalf("found %d kustomizations under deploy/k8s, want a base and two regions or more", len(kustomizations))
	}
	for _, kf := range kustomizations {
		used[kf] = true
		data, err := os.ReadFile(filepath.Join(root, kf))
		if err != nil {
			t.Fatal(err)
		}
		docs, err := yamlDocs(data)
		if err != nil || len(docs) != 1 {
			t.Errorf("%s: want one YAML document, got %d (%v)", kf, len(docs), err)
			continue
		}
		refs, err := kustomizationRefs(docs[0])
		if err != nil {
			t.Errorf("%s: %v", kf, err)
			continue
		}
		dir := filepath.Dir(kf)
		for ref, what := range refs {
			p := filepath.Join(dir, ref)
			st, err := os.Stat(filepath.Join(root, p))
			switch {
			case err != nil:
				t.Errorf("%s: %s names %q: %v", kf, what, ref, err)
			case st.IsDir():
				if _, err := os.Stat(filepath.Join(root, p, "kustomization.yaml")); err != nil {
					t.Errorf("%s: %s names directory %q, which has no kustomization.yaml", kf, what, ref)
				}
			default:
				used[p] = true
			}
		}
	}
	for _, f := range filesUnder(t, root, "") {
		if !used[f] {
			t.Errorf("deploy/k8s/%s: no kustomization names it", filepath.ToSlash(f))
		}
	}
}

// TestScripts checks the shell scripts the Redis and Sentinel init
// containers run for syntax errors (sh -n), the only check that needs no
// cluster.
func TestScripts(t *testing.T) {
	root := filepath.Join(repoRoot(t), "deploy", "k8s")
	scripts := filesUnder(t, root, ".sh")
	if len(scripts) == 0 {
		t.Fatal("no scripts under deploy/k8s")
	}
	for _, s := range scripts {
		if out, err := exec.Command("sh", "-n", filepath.Join(root, s)).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
	}
}
