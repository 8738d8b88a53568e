package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Podman serves the Docker API (1.41) through `podman system service`, and
// dockerbank drives it through the same SDK calls as Docker. This file
// handles where Podman's answers differ (docs/podman.md lists them all):
//
//   - Health checks: Podman runs them from systemd timers. Without systemd
//     (containers, CI machines, minimal hosts) no check ever runs and a
//     container stays "starting" for ever, so compose's wait for healthy
//     never ends. Dockerbank then runs each overdue check itself through
//     Podman's own API (GET /libpod/containers/{id}/healthcheck, the call
//     behind `podman healthcheck run`), which records the result in the
//     container's health state as the timer would. A check is overdue when
//     its last result is older than its interval plus a second, so where
//     the timers do run, dockerbank leaves them alone.
//   - The archive API (GET /containers/{id}/archive) gives every member the
//     uid and gid of the container's user, and leaves out the root entry
//     of "dir/.": a backup through it would lose every file's owner. On
//     Podman, helpers run `sleep` and CopyFrom streams `tar` from an exec
//     in them, which keeps owners (PUT, used by restores, keeps them).
//   - Container lists carry no health (neither a Health field nor
//     "(healthy)" in the status text): Containers inspects the containers
//     that have a health check.

// podman talks to the parts of Podman's own API that dockerbank needs.
type podman struct {
	Version string
	http    *http.Client
}

// detectPodman asks the engine for its components; it returns nil for an
// engine that is not Podman.
func detectPodman(ctx context.Context, api client.APIClient) *podman {
	v, err := api.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return nil
	}
	for _, c := range v.Components {
		if c.Name == "Podman Engine" {
			dial := api.Dialer()
			return &podman{Version: c.Version, http: &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
			}}}
		}
	}
	return nil
}

// Podman reports whether the engine is Podman, and its version.
func (e *Engine) Podman() (version string, ok bool) {
	if e.podman == nil {
		return "", false
	}
	return e.podman.Version, true
}

// runHealthcheck runs a container's health check now and returns the
// container's health afterwards (healthy, unhealthy, starting).
func (p *podman) runHealthcheck(ctx context.Context, id string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://podman/v4.0.0/libpod/containers/"+id+"/healthcheck", nil)
	if err != nil {
		return "", fmt.Errorf("run health check of %s: %w", id, err)
	}
	res, err := p.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("run health check of %s: %w", id, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("run health check of %s: %s: %s", id, res.Status, strings.TrimSpace(string(body)))
	}
	var h struct{ Status string }
	if err := json.Unmarshal(body, &h); err != nil {
		return "", fmt.Errorf("run health check of %s: decode %q: %w", id, body, err)
	}
	return h.Status, nil
}

// healthDue says whether a running container's health check is overdue:
// it has one, and its last result (or its start, before the first) is
// older than its interval plus a second of slack.
func healthDue(c container.InspectResponse, now time.Time) bool {
	if c.State == nil || !c.State.Running || c.State.Health == nil || !hasHealthcheck(c) {
		return false
	}
	hc := c.Config.Healthcheck
	interval := hc.Interval
	if interval <= 0 {
		interval = 30 * time.Second // Docker's and Podman's default
	}
	last, _ := time.Parse(time.RFC3339Nano, c.State.StartedAt)
	if n := len(c.State.Health.Log); n > 0 && c.State.Health.Log[n-1] != nil {
		if end := c.State.Health.Log[n-1].End; end.After(last) {
			last = end
		}
	}
	return now.Sub(last) >= interval+time.Second
}

// hasHealthcheck says whether the container has a health check.
func hasHealthcheck(c container.InspectResponse) bool {
	if c.Config == nil || c.Config.Healthcheck == nil {
		return false
	}
	t := c.Config.Healthcheck.Test
	return len(t) > 0 && t[0] != "NONE"
}

// health returns a container's health from its inspect, running its check
// first on Podman when it is overdue.
func (e *Engine) health(ctx context.Context, id string) (string, error) {
	c, err := e.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect container %s: %w", id, mapErr(err))
	}
	if c.Container.State == nil || c.Container.State.Health == nil || !hasHealthcheck(c.Container) {
		return "", nil // Podman has an empty Health even without a check
	}
	if e.podman != nil && healthDue(c.Container, time.Now()) {
		// The check's own answer can be empty (seen right after a
		// recreate): the state it recorded is what counts.
		e.runCheck(ctx, id)
		if c, err = e.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err != nil {
			return "", fmt.Errorf("inspect container %s: %w", id, mapErr(err))
		}
	}
	h := string(c.Container.State.Health.Status)
	if h == "" && c.Container.State.Running {
		h = "starting" // Podman, before the first check has run
	}
	return h, nil
}

// runCheck runs one container's check, never two at once for the same
// container (the driver and a listing may both find it overdue).
func (e *Engine) runCheck(ctx context.Context, id string) (string, error) {
	mu, _ := e.checking.LoadOrStore(id, &sync.Mutex{})
	m := mu.(*sync.Mutex)
	if !m.TryLock() {
		return "", fmt.Errorf("health check of %s already runs", id)
	}
	defer m.Unlock()
	h, err := e.podman.runHealthcheck(ctx, id)
	if err != nil {
		e.log.Debug("podman health check", "container", id, "err", err)
	}
	return h, err
}

// driveHealth runs the overdue health checks of compose containers on
// Podman every second until ctx ends, so that compose's waits, ps and
// serve see health change as on Docker while this process runs.
func (e *Engine) driveHealth(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f := client.Filters{}
		f.Add("label", LabelProject)
		f.Add("status", "running")
		res, err := e.api.ContainerList(ctx, client.ContainerListOptions{Filters: f})
		if err != nil {
			continue
		}
		now := time.Now()
		for _, c := range res.Items {
			insp, err := e.api.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
			if err == nil && healthDue(insp.Container, now) {
				go e.runCheck(ctx, c.ID)
			}
		}
	}
}

// helperSleep is the command of a helper container on Podman: it keeps the
// helper running for CopyFrom's exec until RemoveContainer kills it.
var helperSleep = []string{"sleep", "2147483647"}

// copyFromPodman streams `tar -c` of p from an exec in the container,
// starting it first if it was only created. The image needs tar (the
// helper image, busybox, has it). Members carry numeric owners, modes and
// whole-second mtimes, like Docker's archive API (without xattrs).
func (e *Engine) copyFromPodman(ctx context.Context, id, p string) (io.ReadCloser, error) {
	c, err := e.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("read archive of %s in %s: %w", p, id, mapErr(err))
	}
	if c.Container.State == nil || !c.Container.State.Running {
		if _, err := e.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return nil, fmt.Errorf("read archive of %s in %s: start the container for tar: %w", p, id, mapErr(err))
		}
	}
	dir, member := path.Dir(p), path.Base(p)
	if strings.HasSuffix(p, "/.") {
		dir, member = strings.TrimSuffix(p, "/."), "."
	}
	cmd := []string{"tar", "-c", "-f", "-", "-C", dir, member}
	pr, pw := io.Pipe()
	go func() {
		err := e.Exec(ctx, id, cmd, ExecOptions{Stdout: pw})
		if err != nil {
			err = fmt.Errorf("read archive of %s in %s: %w", p, id, err)
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}
