package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/peterbourgon/ff/v3"
	"github.com/peterbourgon/ff/v3/ffyaml"
)

// newFlagSet returns a FlagSet for a command, with the flags every server
// command shares (--config, --log-level, --log-format).
func newFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *logFlags) {
	fs := flag.NewFlagSet("cpgw "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "YAML file of flag values (keys are flag names)")
	lf := &logFlags{}
	fs.StringVar(&lf.level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&lf.format, "log-format", "text", "log format: text or json")
	return fs, lf
}

// parseFlags parses args, then CPGW_* environment variables, then the
// --config YAML file, each filling only what the earlier ones left unset.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := ff.Parse(fs, args,
		ff.WithEnvVarPrefix("CPGW"),
		ff.WithConfigFileFlag("config"),
		ff.WithConfigFileParser(ffyaml.Parser),
	)
	if errors.Is(err, flag.ErrHelp) {
		return errUsage
	}
	if err != nil {
		fmt.Fprintln(fs.Output(), err)
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return errUsage
	}
	return nil
}

// required reports the first empty flag among names, as a usage error.
func required(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if f := fs.Lookup(n); f != nil && f.Value.String() == "" {
			fmt.Fprintf(fs.Output(), "%s: --%s is required (or CPGW_%s)\n", fs.Name(), n, envName(n))
			return errUsage
		}
	}
	return nil
}

func envName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

type logFlags struct{ level, format string }

// logger builds the process logger from --log-level and --log-format.
func (lf *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lf.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", lf.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch lf.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", lf.format)
}

// warnInsecure says loudly, once at start, what --insecure gives away.
func warnInsecure(log *slog.Logger) {
	log.Warn("INSECURE: plain HTTP, no authentication, no authorization: anyone who can reach this port can read and change everything")
}
