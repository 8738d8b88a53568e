package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/docker/go-connections/tlsconfig"
)

// Endpoint returns the Options of an endpoint written as on serve's
// --engine flag: a URL (unix:///path, tcp://host:port, ssh://user@host,
// npipe://...) is a host; anything else names a docker context. tlsDir,
// when set, holds ca.pem, cert.pem and key.pem (the DOCKER_CERT_PATH
// layout) and makes the connection verify the engine against ca.pem.
func Endpoint(endpoint, tlsDir string) Options {
	if strings.Contains(endpoint, "://") {
		return Options{Host: endpoint, TLSDir: tlsDir}
	}
	return Options{Context: endpoint, TLSDir: tlsDir}
}

// applyTLS sets the client's TLS files from o.TLSDir.
func applyTLS(copts *flags.ClientOptions, o Options) error {
	if o.TLSDir == "" {
		return nil
	}
	t := &tlsconfig.Options{
		CAFile:   filepath.Join(o.TLSDir, "ca.pem"),
		CertFile: filepath.Join(o.TLSDir, "cert.pem"),
		KeyFile:  filepath.Join(o.TLSDir, "key.pem"),
	}
	var errs []error
	for _, f := range []string{t.CAFile, t.CertFile, t.KeyFile} {
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("TLS files of %s: %w; put the engine's CA as ca.pem and the client's certificate and key as cert.pem and key.pem in %s (the DOCKER_CERT_PATH layout)",
			o.Host, errors.Join(errs...), o.TLSDir)
	}
	copts.TLS, copts.TLSVerify, copts.TLSOptions = true, true, t
	return nil
}

// resolveEndpoint resolves the endpoint before Client() is called: the
// docker CLI's Client() exits the process when that fails (an unknown
// context, say), which must not happen to serve watching several engines.
func resolveEndpoint(c *command.DockerCli, o Options) error {
	var msg bytes.Buffer
	if err := command.WithErrorStream(&msg)(c); err != nil {
		return fmt.Errorf("resolve engine endpoint: %w", err)
	}
	defer command.WithErrorStream(io.Discard)(c)
	if ep := c.DockerEndpoint(); ep.Host == "" || msg.Len() > 0 {
		what := "the default endpoint"
		switch {
		case o.Context != "":
			what = "context " + strconv.Quote(o.Context)
		case o.Host != "":
			what = "host " + o.Host
		}
		return fmt.Errorf("%w: %s: %s; check `docker context ls` or the host URL (unix:///path, tcp://host:port, ssh://user@host)",
			ErrUnreachable, what, strings.TrimSpace(msg.String()))
	}
	return nil
}
