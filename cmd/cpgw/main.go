// Command cpgw is cpgw's one binary: the regional gateway, the shard
// coordinator, a whole local deployment for development, and tools.
//
//	cpgw dev [--regions us-east,eu-west,ap-south] [--state-dir DIR] [--backend embedded|redis]
//	         [--port 8080] [--replica-lag 50ms] [--insecure]
//	cpgw coordinator --region R --id ID --listen HOST:PORT --advertise URL --redis URL
//	                 (--tls-cert FILE --tls-key FILE --tls-ca FILE | --insecure)
//	cpgw gateway     --region R --listen HOST:PORT --redis URL [--redis-replica URL]
//	                 (--tls-cert FILE --tls-key FILE --tls-ca FILE --policy FILE [--jwks FILE] | --insecure)
//	cpgw token --key FILE --sub NAME [--roles g1,g2] [--ttl 1h]
//	cpgw token --jwks --key FILE[,FILE...]
//	cpgw version
//
// Without --insecure the servers speak only TLS (mTLS between gateways and
// coordinators) and the gateway authenticates and authorises every /v1
// request; "cpgw <command> --help" lists the flags. --redis may list
// several hosts (redis://h1:6379,h2:6379): the one reporting ROLE master is
// used, and found again after a failover. The coordinator's --clock-offset
// and --clock-rate skew its clock for chaos tests only and are left out of
// --help.
//
// Every flag can also be set with an environment variable (CPGW_ and the
// flag's name in upper case, dashes as underscores: CPGW_REDIS_REPLICA) or in
// a YAML file named by --config (keys are flag names). The command line wins
// over the environment, which wins over the file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks an error already explained to the user with usage text.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch args[0] {
	case "dev":
		err = runDev(ctx, args[1:], stdout, stderr)
	case "coordinator":
		err = runCoordinator(ctx, args[1:], stderr)
	case "gateway":
		err = runGateway(ctx, args[1:], stderr)
	case "token":
		err = runToken(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "cpgw", version())
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "cpgw: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "cpgw:", err)
		return 1
	}
}

const usage = `cpgw: a multi-region gateway and shard-ownership layer for control-plane APIs

Commands:
  cpgw dev          run a whole local deployment (gateways and coordinators per region)
  cpgw coordinator  run a shard coordinator
  cpgw gateway      run a regional gateway
  cpgw token        mint a bearer token (--jwks: print the key set that verifies it)
  cpgw version      print the version

Run "cpgw <command> --help" for a command's flags. Every flag also reads from
CPGW_<FLAG> in the environment and from a YAML file given with --config.
`
