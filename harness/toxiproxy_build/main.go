// Command toxiproxy is chaos-harness's build of the Toxiproxy server: the same
// start-up as upstream's cmd/server (same flags, metrics, logger, shutdown), but
// built from this module so the project's HTTP toxics are registered first.

// Upstream's -seed is a no-op (it builds a generator nobody uses). Toxiproxy's
// own toxics draw from the global math/rand source (toxicity, jitter), so we
// seed that; since Go 1.24 rand.Seed does nothing unless this setting is on.
//
//go:debug randseednop=0
package main

import (
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/log"

	"chaosharness/toxiproxy/httptoxics"
)

type cliArguments struct {
	host           string
	port           string
	config         string
	seed           int64
	printVersion   bool
	proxyMetrics   bool
	runtimeMetrics bool
}

func parseArguments() cliArguments {
	var a cliArguments
	flag.StringVar(&a.host, "host", "localhost", "Host for toxiproxy's API to listen on")
	flag.StringVar(&a.port, "port", "8474", "Port for toxiproxy's API to listen on")
	flag.StringVar(&a.config, "config", "", "JSON file containing proxies to create on startup")
	flag.Int64Var(&a.seed, "seed", time.Now().UTC().UnixNano(), "Seed for randomizing toxics with")
	flag.BoolVar(&a.runtimeMetrics, "runtime-metrics", false, "enable runtime-related prometheus metrics")
	flag.BoolVar(&a.proxyMetrics, "proxy-metrics", false, "enable toxiproxy-specific prometheus metrics")
	flag.BoolVar(&a.printVersion, "version", false, "print the version")
	flag.Parse()
	return a
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	cli := parseArguments()
	// The build marker tells a client that this server has the HTTP toxics: chaos-harness
	// reads GET /version and refuses HTTP faults on a Toxiproxy without it.
	toxiproxy.Version = upstreamVersion() + "+chaos-harness"

	if cli.printVersion {
		fmt.Printf("toxiproxy-server version %s (chaos-harness build)\n", toxiproxy.Version)
		return nil
	}

	//lint:ignore SA1019 deliberate: see the go:debug note at the top of the file.
	rand.Seed(cli.seed) //nolint:staticcheck

	// Register before NewServer so that proxies (including those from -config)
	// size their toxic chains knowing every toxic type.
	httptoxics.Register()

	logger := setupLogger()
	log.Logger = logger
	logger.Info().
		Str("version", toxiproxy.Version).
		Strs("extra_toxics", httptoxics.Names()).
		Msg("Starting Toxiproxy")

	metrics := toxiproxy.NewMetricsContainer(prometheus.NewRegistry())
	server := toxiproxy.NewServer(metrics, logger)
	if cli.proxyMetrics {
		server.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	}
	if cli.runtimeMetrics {
		server.Metrics.RuntimeMetrics = collectors.NewRuntimeMetricCollectors()
	}

	if cli.config != "" {
		server.PopulateConfig(cli.config)
	}

	// Listen blocks until Shutdown; a failure to bind must end the process
	// (upstream only logs it and keeps waiting for a signal, which hides a
	// port clash from whoever started us).
	addr := net.JoinHostPort(cli.host, cli.port)
	listenErr := make(chan error, 1)
	go func() { listenErr <- server.Listen(addr) }()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-listenErr:
		return fmt.Errorf("API server on %s: %w", addr, err)
	case <-signals:
	}

	server.Logger.Info().Msg("Shutdown started")
	if err := server.Shutdown(); err != nil {
		logger.Err(err).Msg("Shutdown finished with error")
	}
	return nil
}

// upstreamVersion reports the pinned Toxiproxy release this binary was built
// from. Upstream stamps Version with -ldflags; our build command has none, so
// read it from the module build info instead of answering "git" on /version.
func upstreamVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/Shopify/toxiproxy/v2" {
				return dep.Version
			}
		}
	}
	return toxiproxy.Version
}

// setupLogger matches upstream: JSON to stdout, UTC timestamps, short caller,
// level from $LOG_LEVEL.
func setupLogger() zerolog.Logger {
	zerolog.TimestampFunc = func() time.Time { return time.Now().UTC() }
	zerolog.CallerMarshalFunc = func(_ uintptr, file string, line int) string {
		return filepath.Base(file) + ":" + strconv.Itoa(line)
	}

	logger := zerolog.New(os.Stdout).With().Caller().Timestamp().Logger()

	val, ok := os.LookupEnv("LOG_LEVEL")
	if !ok {
		return logger
	}
	lvl, err := zerolog.ParseLevel(val)
	if err != nil {
		logger.Err(err).Msgf("unknown LOG_LEVEL value: %q", val)
		return logger
	}
	return logger.Level(lvl)
}
