package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cpgw/cpgw/cmd/internal/devcluster"
	"github.com/cpgw/cpgw/cmd/internal/secure"
	"github.com/cpgw/cpgw/internal/files"
)

// endpoints is the endpoints.json contract (DESIGN.md, "cpgw dev").
type endpoints struct {
	Regions     map[string]regionEndpoints `json:"regions"`
	CAFile      string                     `json:"caFile"`
	AdminToken  string                     `json:"adminToken"`
	ReaderToken string                     `json:"readerToken"`
	AuditLog    string                     `json:"auditLog"`
}

type regionEndpoints struct {
	Gateway      string   `json:"gateway"`
	Coordinators []string `json:"coordinators,omitempty"`
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, lf := newFlagSet("dev", stderr)
	regions := fs.String("regions", "us-east,eu-west,ap-south", "comma-separated regions; the first holds the store primary")
	stateDir := fs.String("state-dir", ".cpgw-dev", "directory for endpoints.json and the deployment's files")
	backend := fs.String("backend", devcluster.Embedded, "store: embedded (nothing to install) or redis (starts redis-server processes)")
	insecure := fs.Bool("insecure", false, "plain HTTP and no authentication (default: TLS, mTLS between nodes, tokens and RBAC, with material generated into the state dir)")
	port := fs.Int("port", 8080, "port of the first region's gateway; the next regions take the following ports (a taken port falls back to a free one)")
	lag := fs.Duration("replica-lag", 50*time.Millisecond, "embedded backend: replication lag of the replicas of regions other than the first")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	var names []string
	for _, r := range strings.Split(*regions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			names = append(names, r)
		}
	}
	ports := make([]int, len(names))
	for i := range ports {
		ports[i] = *port + i
	}
	// 0700: endpoints.json holds bearer tokens.
	if err := os.MkdirAll(*stateDir, 0o700); err != nil {
		return err
	}
	var sec *secure.Dev
	if *insecure {
		warnInsecure(log)
	} else if sec, err = secure.NewDev(filepath.Join(*stateDir, "pki"), time.Now()); err != nil {
		return fmt.Errorf("dev: generating certificates and keys: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, err := devcluster.Start(sctx, devcluster.Options{
		Regions:      names,
		Backend:      *backend,
		Dir:          filepath.Join(*stateDir, "redis"),
		ReplicaLag:   *lag,
		GatewayPorts: ports,
		Logger:       log,
		Security:     sec,
	})
	if err != nil {
		return err
	}
	defer c.Stop()

	ep := endpoints{Regions: map[string]regionEndpoints{}}
	for _, r := range c.Regions() {
		re := regionEndpoints{Gateway: r.Gateway.URL}
		for _, n := range r.Coordinators {
			re.Coordinators = append(re.Coordinators, n.URL)
		}
		ep.Regions[r.Name] = re
	}
	if sec != nil {
		ep.CAFile, ep.AdminToken, ep.ReaderToken, ep.AuditLog = sec.CAFile, sec.AdminToken, sec.ReaderToken, sec.AuditLog
	}
	path := filepath.Join(*stateDir, "endpoints.json")
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tGATEWAY\tCOORDINATORS")
	for _, r := range c.Regions() {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", r.Name, r.Gateway.URL, len(r.Coordinators))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nbackend %s; endpoints in %s; Ctrl-C stops.\n", *backend, path)
	if sec != nil {
		fmt.Fprintf(stdout, "CA %s; admin and reader tokens in endpoints.json (adminToken, readerToken); audit log %s\n", sec.CAFile, sec.AuditLog)
	} else {
		fmt.Fprintln(stdout, "INSECURE: plain HTTP, no authentication.")
	}

	// endpoints.json is written last: tools that wait for it may rely on
	// everything else being ready and printed.
	if err := writeJSON(path, ep); err != nil {
		return err
	}
	defer os.Remove(path) // its URLs die with this process

	<-ctx.Done()
	log.Info("stopping")
	return nil
}

// writeJSON writes v to path atomically, so a reader never sees half a
// file, readable by its owner only (it may hold tokens).
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return files.WriteAtomic(path, append(b, '\n'), 0o600)
}
