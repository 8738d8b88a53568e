package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"
	"github.com/dockerbank/dockerbank/internal/progress"
	"github.com/moby/moby/client"
)

// ErrUnreachable means no engine answered at the configured endpoint.
var ErrUnreachable = errors.New("container engine unreachable")

// ErrNotFound means the named object does not exist on the engine.
var ErrNotFound = errors.New("not found")

// Options selects the engine endpoint. Empty fields follow DOCKER_HOST,
// DOCKER_CONTEXT and the docker CLI configuration, like docker itself.
type Options struct {
	Host    string // e.g. unix:///var/run/docker.sock, tcp://host:2376, ssh://user@host
	Context string // a docker context name
	// TLSDir holds ca.pem, cert.pem and key.pem for a tcp:// Host with
	// TLS (see Endpoint); empty follows DOCKER_TLS_VERIFY/DOCKER_CERT_PATH.
	TLSDir string
	Logger *slog.Logger
	// Report receives compose progress (pulls, builds, health waits) as
	// progress.Compose events; may be nil.
	Report progress.Reporter
}

// Engine is a connection to one Docker-compatible engine.
type Engine struct {
	cli     command.Cli
	api     client.APIClient
	compose api.Compose
	log     *slog.Logger
	// Endpoint is the address the engine answered on, for messages.
	Endpoint string
	// APIVersion is the negotiated API version.
	APIVersion string

	podman   *podman  // nil unless the engine is Podman (podman.go)
	checking sync.Map // container ID -> *sync.Mutex of a running health check
	stop     context.CancelFunc
}

// Connect opens the engine and checks that it answers. The error for an
// engine that does not answer wraps ErrUnreachable and names DOCKER_HOST.
func Connect(ctx context.Context, o Options) (*Engine, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dockerCli, err := command.NewDockerCli(command.WithCombinedStreams(io.Discard))
	if err != nil {
		return nil, fmt.Errorf("create docker client: %w", err)
	}
	copts := flags.NewClientOptions()
	copts.Context = o.Context
	if o.Host != "" {
		copts.Hosts = []string{o.Host}
	}
	if err := applyTLS(copts, o); err != nil {
		return nil, err
	}
	if err := dockerCli.Initialize(copts); err != nil {
		return nil, fmt.Errorf("initialise docker client: %w", err)
	}
	if err := resolveEndpoint(dockerCli, o); err != nil {
		return nil, err
	}
	e := &Engine{cli: dockerCli, api: dockerCli.Client(), log: log}
	e.Endpoint = dockerCli.DockerEndpoint().Host
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ping, err := e.api.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		return nil, fmt.Errorf("%w at %s (DOCKER_HOST=%q): %v; start the engine (for example `dockerd &` or `systemctl start docker`) or point DOCKER_HOST or --host at a running one",
			ErrUnreachable, e.Endpoint, os.Getenv("DOCKER_HOST"), err)
	}
	e.APIVersion = ping.APIVersion
	if v := e.api.ClientVersion(); v != "" {
		e.APIVersion = v
	}
	opts := []compose.Option{
		compose.WithStreams(io.Discard, io.Discard, nil),
		// Never let compose recreate a volume whose configuration changed:
		// recreating it would delete user data.
		compose.WithPrompt(func(string, bool) (bool, error) { return false, nil }),
	}
	if o.Report != nil {
		opts = append(opts, compose.WithEventProcessor(eventSink{o.Report}))
	}
	e.compose, err = compose.NewComposeService(dockerCli, opts...)
	if err != nil {
		return nil, fmt.Errorf("create compose service: %w", err)
	}
	if e.podman = detectPodman(pctx, e.api); e.podman != nil {
		// Runs health checks that Podman itself does not (podman.go),
		// until Close.
		hctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		e.stop = stop
		go e.driveHealth(hctx)
	}
	return e, nil
}

// Close releases the connection.
func (e *Engine) Close() error {
	if e.stop != nil {
		e.stop()
	}
	return e.api.Close()
}
