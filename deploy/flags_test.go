package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cpgw/cpgw/internal/primary"
)

// servers are the subcommands that run in Kubernetes.
func servers() []string { return []string{"gateway", "coordinator"} }

// flagSet maps a subcommand's flag names to their types as -h prints them
// ("string", "int", "duration", ...; "bool" for a flag -h shows bare).
type flagSet map[string]string

// cpgwFlags reads the flags `cpgw <sub> -h` lists. Flags kept out of -h
// (the coordinator's testing-only clock skew) are left out on purpose: a
// manifest must not use them.
func cpgwFlags(t *testing.T, bin, sub string) flagSet {
	t.Helper()
	out, err := exec.Command(bin, sub, "-h").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("cpgw %s -h: want exit status 2 (usage), got %v\n%s", sub, err, out)
	}
	// flag.PrintDefaults: "  -name type" or "  -name" (a bool), then usage.
	line := regexp.MustCompile(`^  -([a-z0-9-]+)(?: (\S+))?$`)
	fs := flagSet{}
	for _, l := range strings.Split(string(out), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			fs[m[1]] = orDefault(m[2], "bool")
		}
	}
	if len(fs) < 5 {
		t.Fatalf("cpgw %s -h listed %d flags; has its format changed?\n%s", sub, len(fs), out)
	}
	return fs
}

func orDefault(s, orElse string) string {
	if s == "" {
		return orElse
	}
	return s
}

// container is a cpgw container found in a manifest.
type container struct {
	where     string // file or overlay, workload and container, for messages
	namespace string
	podName   string   // a name the pod could have, for metadata.name
	sub       string   // "gateway", "coordinator", or "" (a patch that does not say)
	args      []string // after the subcommand
	env       []any    // the env list, as decoded
	envFrom   []any
	mounts    []string // mountPaths
}

// cpgwContainers finds the cpgw containers of a workload (or of a patch of
// one): containers running a .../cpgw image, or named cpgw.
func cpgwContainers(doc map[string]any, where string) []container {
	spec := field(doc, "spec", "template", "spec")
	if str(doc["kind"]) == "Pod" {
		spec = doc["spec"]
	}
	if spec == nil {
		spec = field(doc, "spec", "jobTemplate", "spec", "template", "spec")
	}
	name := str(field(doc, "metadata", "name"))
	var out []container
	for _, kind := range []string{"initContainers", "containers"} {
		for _, c := range list(field(spec, kind)) {
			image := str(field(c, "image"))
			repo, _, _ := strings.Cut(strings.Split(image, "@")[0], ":")
			if path.Base(repo) != "cpgw" && str(field(c, "name")) != "cpgw" {
				continue
			}
			words := append(strs(field(c, "command")), strs(field(c, "args"))...)
			if cmd := strs(field(c, "command")); len(cmd) > 0 {
				words = words[1:] // the binary itself
			}
			ct := container{
				where:     fmt.Sprintf("%s: %s %s, container %s", where, doc["kind"], name, field(c, "name")),
				namespace: str(field(doc, "metadata", "namespace")),
				podName:   name + "-0",
				env:       list(field(c, "env")),
				envFrom:   list(field(c, "envFrom")),
			}
			if len(words) > 0 && !strings.HasPrefix(words[0], "-") {
				ct.sub, words = words[0], words[1:]
			}
			ct.args = words
			for _, m := range list(field(c, "volumeMounts")) {
				ct.mounts = append(ct.mounts, str(field(m, "mountPath")))
			}
			out = append(out, ct)
		}
	}
	return out
}

// flagValue is one flag a container sets, from its arguments or from a
// CPGW_* variable.
type flagValue struct {
	name, value string
	from        string // "argument" or the variable's name
}

// parseArgs reads args as Go's flag package would: -name, --name,
// -name=value, or -name value for a flag that is not a bool.
func parseArgs(args []string, fs flagSet) ([]flagValue, []error) {
	var (
		out  []flagValue
		errs []error
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		n := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if !strings.HasPrefix(a, "-") || n == "" || n[0] == '-' || n[0] == '=' {
			errs = append(errs, fmt.Errorf("argument %q: not a flag (cpgw's servers take no positional arguments)", a))
			continue
		}
		name, value, hasValue := strings.Cut(n, "=")
		typ, ok := fs[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("argument %q: no flag --%s", a, name))
			continue
		case !hasValue && typ == "bool":
			value = "true"
		case !hasValue:
			if i+1 == len(args) {
				errs = append(errs, fmt.Errorf("argument %q: flag needs a value", a))
				continue
			}
			i++
			value = args[i]
		}
		out = append(out, flagValue{name: name, value: value, from: "argument"})
	}
	return out, errs
}

// envFlag maps a CPGW_* variable to its flag: CPGW_REDIS_REPLICA is
// --redis-replica (ff's rule: upper case, dashes as underscores).
func envFlag(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "CPGW_")
	return strings.ToLower(strings.ReplaceAll(rest, "_", "-")), ok
}

// checkType checks value against a flag type of -h.
func checkType(typ, value string) error {
	var err error
	switch typ {
	case "bool":
		_, err = strconv.ParseBool(value)
	case "int":
		_, err = strconv.ParseInt(value, 0, 64)
	case "uint":
		_, err = strconv.ParseUint(value, 0, 64)
	case "float":
		_, err = strconv.ParseFloat(value, 64)
	case "duration":
		_, err = time.ParseDuration(value)
	}
	return err
}

// fileFlags name a file, which must then lie in a volume the container
// mounts: there is nothing else in the image.
func fileFlags() []string {
	return []string{"config", "tls-cert", "tls-key", "tls-ca", "client-ca", "jwks", "policy", "audit-log", "redis-ca"}
}

// checkFlag checks what a flag's type cannot: paths, Redis URLs, and that
// nothing is deployed --insecure.
func checkFlag(c container, f flagValue) error {
	switch {
	case f.name == "insecure" && f.value != "false":
		return errors.New("--insecure turns off TLS and authentication: not for a deployment")
	case f.name == "redis":
		return checkRedisURL(f.value, true)
	case f.name == "redis-replica":
		return checkRedisURL(f.value, false)
	case slices.Contains(fileFlags(), f.name):
		if !filepath.IsAbs(f.value) {
			return fmt.Errorf("%q is not an absolute path", f.value)
		}
		for _, m := range c.mounts {
			if rel, err := filepath.Rel(m, f.value); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
				return nil
			}
		}
		return fmt.Errorf("%q is in no volume the container mounts (%v)", f.value, c.mounts)
	}
	return nil
}

// checkRedisURL checks a --redis or --redis-replica value as cmd/cpgw reads
// it: primary.SplitURL cuts a host list (allowed only where multi is set),
// and go-redis must accept the URL with its first host.
func checkRedisURL(raw string, multi bool) error {
	first, hosts, err := primary.SplitURL(raw)
	switch {
	case err != nil:
		return err
	case !strings.HasPrefix(raw, "redis://") && !strings.HasPrefix(raw, "rediss://"):
		return errors.New("not a redis:// or rediss:// URL")
	case len(hosts) > 1 && !multi:
		return fmt.Errorf("lists %d hosts; a replica URL names one server", len(hosts))
	}
	if _, err := redis.ParseURL(first); err != nil {
		// The error may quote the URL; the password here is a stand-in.
		return err
	}
	return nil
}

// TestManifestFiles checks every cpgw container in every file under
// deploy/k8s, base and overlay patches alike, as written: its subcommand,
// its flags' names, and the values that need no variable expanded.
func TestManifestFiles(t *testing.T) {
	bin := buildCPGW(t)
	sets := map[string]flagSet{}
	all := flagSet{} // for a patch that does not name its subcommand
	for _, sub := range servers() {
		sets[sub] = cpgwFlags(t, bin, sub)
		for n, typ := range sets[sub] {
			all[n] = typ
		}
	}
	dir := filepath.Join(repoRoot(t), "deploy", "k8s")
	seen := map[string]int{}
	for _, file := range filesUnder(t, dir, ".yaml", ".yml") {
		t.Run(filepath.ToSlash(file), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			docs, err := yamlDocs(data)
			if err != nil {
				t.Fatalf("YAML: %v", err)
			}
			for _, doc := range docs {
				for _, c := range cpgwContainers(doc, file) {
					fs := all
					if c.sub != "" {
						if fs = sets[c.sub]; fs == nil {
							t.Errorf("%s: subcommand %q: want one of %v", c.where, c.sub, servers())
							continue
						}
						seen[c.sub]++
					}
					flags, errs := parseArgs(c.args, fs)
					for _, err := range errs {
						t.Errorf("%s: %v", c.where, err)
					}
					for _, e := range c.env {
						if n, ok := envFlag(str(field(e, "name"))); ok {
							flags = append(flags, flagValue{name: n, value: str(field(e, "value")), from: str(field(e, "name"))})
						}
					}
					for _, f := range flags {
						typ, ok := fs[f.name]
						switch {
						case !ok:
							t.Errorf("%s: %s names no flag --%s", c.where, f.from, f.name)
						case strings.Contains(f.value, "$("):
							// Expanded by Kubernetes; TestOverlays checks the result.
						case f.value == "" && f.from != "argument":
							// From a ConfigMap or Secret; TestOverlays checks it.
						default:
							if err := checkType(typ, f.value); err != nil {
								t.Errorf("%s: --%s=%q: not a %s: %v", c.where, f.name, f.value, typ, err)
							}
							if err := checkFlag(c, f); err != nil {
								t.Errorf("%s: --%s: %v", c.where, f.name, err)
							}
						}
					}
				}
			}
		})
	}
	for _, sub := range servers() {
		if seen[sub] == 0 {
			t.Errorf("no cpgw %s container anywhere under deploy/k8s", sub)
		}
	}
}

// TestOverlays renders each region with kustomize and checks the cpgw
// containers as Kubernetes would run them: variables expanded, values
// taken from the rendered ConfigMaps. Then it runs the real binary with
// each container's arguments and environment: the servers check their
// flags (parsing, required flags, log settings, --advertise) before they
// load certificates, and the certificates do not exist here, so stopping
// at "refusing to start without TLS" means everything before was accepted.
func TestOverlays(t *testing.T) {
	render := kustomizeCommand(t)
	bin := buildCPGW(t)
	sets := map[string]flagSet{}
	for _, sub := range servers() {
		sets[sub] = cpgwFlags(t, bin, sub)
	}
	regions, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "k8s", "regions", "*"))
	if err != nil || len(regions) < 2 {
		t.Fatalf("want two regions or more under deploy/k8s/regions, got %v (%v)", regions, err)
	}
	for _, dir := range regions {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			out, err := exec.Command(render[0], append(render[1:], dir)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s: %v\n%s", strings.Join(render, " "), dir, err, out)
			}
			docs, err := yamlDocs(out)
			if err != nil {
				t.Fatalf("rendered YAML: %v", err)
			}
			configMaps := map[string]map[string]string{}
			for _, d := range docs {
				if d["kind"] == "ConfigMap" {
					data := map[string]string{}
					m, _ := field(d, "data").(map[string]any)
					for k, v := range m {
						data[k] = str(v)
					}
					configMaps[str(field(d, "metadata", "name"))] = data
				}
			}
			seen := map[string]int{}
			for _, d := range docs {
				for _, c := range cpgwContainers(d, filepath.Base(dir)) {
					fs, ok := sets[c.sub]
					if !ok {
						t.Errorf("%s: subcommand %q: want one of %v", c.where, c.sub, servers())
						continue
					}
					seen[c.sub]++
					checkRendered(t, bin, c, fs, configMaps)
				}
			}
			for _, sub := range servers() {
				if seen[sub] != 1 {
					t.Errorf("%d cpgw %s containers, want 1", seen[sub], sub)
				}
			}
		})
	}
}

// kustomizeCommand is how to render a kustomization here: kubectl's
// built-in kustomize, or a kustomize binary. Without either the test is
// skipped (TestManifestFiles still checks the files one by one).
func kustomizeCommand(t *testing.T) []string {
	if _, err := exec.LookPath("kubectl"); err == nil {
		return []string{"kubectl", "kustomize"}
	}
	if _, err := exec.LookPath("kustomize"); err == nil {
		return []string{"kustomize", "build"}
	}
	t.Skip("neither kubectl nor kustomize is installed: overlays not rendered")
	return nil
}

// checkRendered checks one rendered cpgw container and runs it.
func checkRendered(t *testing.T, bin string, c container, fs flagSet, configMaps map[string]map[string]string) {
	t.Helper()
	env, err := resolveEnv(c, configMaps)
	if err != nil {
		t.Errorf("%s: %v", c.where, err)
		return
	}
	args := make([]string, len(c.args))
	for i, a := range c.args {
		args[i] = expand(a, env)
	}
	flags, errs := parseArgs(args, fs)
	for _, err := range errs {
		t.Errorf("%s: %v", c.where, err)
	}
	cpgwEnv := []string{} // not nil: nil would hand the child this process's environment
	for name, value := range env {
		if n, ok := envFlag(name); ok {
			flags = append(flags, flagValue{name: n, value: value, from: name})
			cpgwEnv = append(cpgwEnv, name+"="+value)
		}
	}
	set := map[string]string{}
	for _, f := range flags {
		typ, ok := fs[f.name]
		if !ok {
			t.Errorf("%s: %s names no flag --%s", c.where, f.from, f.name)
			continue
		}
		if prev, dup := set[f.name]; dup {
			t.Errorf("%s: --%s set twice (%s and %s): keep one", c.where, f.name, prev, f.from)
		}
		set[f.name] = f.from
		if strings.Contains(f.value, "$(") {
			t.Errorf("%s: --%s=%q refers to a variable the container does not define", c.where, f.name, f.value)
			continue
		}
		if err := checkType(typ, f.value); err != nil {
			t.Errorf("%s: --%s=%q: not a %s: %v", c.where, f.name, f.value, typ, err)
		}
		if err := checkFlag(c, f); err != nil {
			t.Errorf("%s: --%s: %v", c.where, f.name, err)
		}
	}
	if t.Failed() {
		return
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{c.sub}, args...)...)
	cmd.Env = cpgwEnv // only what the manifest sets: no CPGW_* from this machine
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !bytes.Contains(out, []byte("refusing to start without TLS")) {
		t.Errorf("%s: cpgw %s with the manifest's arguments: want it to get as far as loading its certificates "+
			"(exit status 1, \"refusing to start without TLS\"), got %v:\n%s", c.where, c.sub, err, out)
	}
}

// resolveEnv gives a container's environment as Kubernetes would build it:
// in order, each value with $(VAR) references to earlier variables
// expanded, ConfigMap keys from the rendered ConfigMaps. Pod fields and
// Secrets get stand-ins (Secrets are not in the repository).
func resolveEnv(c container, configMaps map[string]map[string]string) (map[string]string, error) {
	if len(c.envFrom) > 0 {
		return nil, errors.New("envFrom: not supported by this test; name each variable in env")
	}
	env := map[string]string{}
	for _, e := range c.env {
		name := str(field(e, "name"))
		switch from := field(e, "valueFrom"); {
		case from == nil:
			env[name] = expand(str(field(e, "value")), env)
		case field(from, "fieldRef") != nil:
			switch p := str(field(from, "fieldRef", "fieldPath")); p {
			case "metadata.name":
				env[name] = c.podName
			case "metadata.namespace":
				env[name] = c.namespace
			case "status.podIP":
				env[name] = "192.0.2.10"
			default:
				return nil, fmt.Errorf("%s: fieldRef %s: not supported by this test", name, p)
			}
		case field(from, "secretKeyRef") != nil:
			env[name] = "0123456789abcdef" // hex, as deploy/README.md asks of passwords
		case field(from, "configMapKeyRef") != nil:
			cm, key := str(field(from, "configMapKeyRef", "name")), str(field(from, "configMapKeyRef", "key"))
			v, ok := configMaps[cm][key]
			if !ok {
				return nil, fmt.Errorf("%s: ConfigMap %s has no key %q", name, cm, key)
			}
			env[name] = v
		default:
			return nil, fmt.Errorf("%s: valueFrom %v: not supported by this test", name, from)
		}
	}
	return env, nil
}

// expand replaces $(VAR) with VAR's value where VAR is defined, and $$
// with $, as Kubernetes does in command, args and env values. An undefined
// reference stays as it is.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i:], ')'); end > 0 {
				if v, ok := env[s[i+2:i+end]]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "PW": "p"}
	for _, c := range []struct{ in, want string }{
		{"redis://:$(PW)@h/0", "redis://:p@h/0"},
		{"$(A)-$(A)", "x-x"},
		{"$(B)", "$(B)"},
		{"$$(A)", "$(A)"},
		{"cost $5", "cost $5"},
		{"$(A", "$(A"},
	} {
		if got := expand(c.in, env); got != c.want {
			t.Errorf("expand(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
