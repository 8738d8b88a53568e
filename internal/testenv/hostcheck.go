package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SinceEnv holds the unix time at which the suite started (`make test`
// sets it): HostCheck watches only containers created before it, so that
// one package's check never takes another package's test containers, made
// while the suite runs, for a user's.
const SinceEnv = "DOCKERBANK_TEST_SINCE"

// HostCheck records the health of the containers that ran on the main
// engine before the tests (a user's instances: the tests did not create
// them) and checks them again during and after the tests: a container that
// was healthy must not turn unhealthy, and must run, healthy, at the end
// (one stopped for a while or removed is noted: on a shared engine its
// owner may stop it for a backup, or remove it), and a container of a
// compose project that resolved its project's service names before must
// still resolve them after (the breakage `docker swarm init/leave` caused).
// Name resolution is checked with `getent hosts SERVICE` (or nslookup)
// inside the container: a read-only command.
type HostCheck struct {
	since    time.Time
	mu       sync.Mutex
	before   map[string]hostContainer
	resolves map[string][]string // container id -> service names it resolved before
	problems []string
	gone     []string
	stopped  []string
	samples  int
	stop     chan struct{}
	done     chan struct{}
}

type hostContainer struct {
	ID, Name, Project, Service, State, Health string
	Created                                   time.Time
}

// StartHostCheck records the containers of the main engine and watches
// them every 15 s. Without an engine it records nothing.
func StartHostCheck() *HostCheck {
	h := &HostCheck{since: time.Now(), before: map[string]hostContainer{}, resolves: map[string][]string{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if v, err := strconv.ParseInt(os.Getenv(SinceEnv), 10, 64); err == nil {
		h.since = time.Unix(v, 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := hostContainers(ctx)
	if err != nil {
		close(h.done)
		return h
	}
	for _, c := range cs {
		if c.Created.Before(h.since) && c.State == "running" && c.Health == "healthy" {
			h.before[c.ID] = c
		}
	}
	for id, c := range h.before {
		if c.Project == "" {
			continue
		}
		for _, svc := range h.projectServices(c.Project) {
			if ok, err := resolves(ctx, id, svc); ok && err == nil {
				h.resolves[id] = append(h.resolves[id], svc)
			}
		}
	}
	go h.watch()
	return h
}

func (h *HostCheck) projectServices(project string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range h.before {
		if c.Project == project && c.Service != "" && !seen[c.Service] {
			seen[c.Service] = true
			out = append(out, c.Service)
		}
	}
	sort.Strings(out)
	return out
}

func (h *HostCheck) watch() {
	defer close(h.done)
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			h.sample(ctx, false)
			cancel()
		}
	}
}

// sample compares the containers with the record; final also requires
// them to be healthy (not starting) and present.
func (h *HostCheck) sample(ctx context.Context, final bool) []string {
	cs, err := hostContainers(ctx)
	if err != nil {
		return nil
	}
	now := map[string]hostContainer{}
	for _, c := range cs {
		now[c.ID] = c
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples++
	var bad []string
	for id, b := range h.before {
		c, ok := now[id]
		switch {
		case !ok:
			// On a shared engine its owner may have removed it: a note, not
			// a verdict (the tests' own cleanup only removes what they
			// labelled and named themselves).
			if !contains(h.gone, b.Name) {
				h.gone = append(h.gone, b.Name)
				fmt.Fprintf(os.Stderr, "host check: note: container %s (%.12s), healthy before the tests, was removed while they ran\n", b.Name, id)
			}
		case c.State != "running" && !final:
			// Stopped for a while (its owner's backup quiesce, a restart):
			// a note; it must run, healthy, at the end.
			if !contains(h.stopped, b.Name) {
				h.stopped = append(h.stopped, b.Name)
				fmt.Fprintf(os.Stderr, "host check: note: container %s, healthy before the tests, was %s while they ran\n", b.Name, c.State)
			}
		case c.State != "running":
			bad = append(bad, fmt.Sprintf("container %s, healthy before the tests, is %s", b.Name, c.State))
		case c.Health == "unhealthy" || (final && c.Health != "healthy"):
			bad = append(bad, fmt.Sprintf("container %s, healthy before the tests, is %s", b.Name, c.Health))
		}
	}
	if !final {
		for _, p := range bad {
			if !contains(h.problems, p+" (seen while the tests ran)") {
				h.problems = append(h.problems, p+" (seen while the tests ran)")
			}
		}
	}
	return bad
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Finish stops watching and checks the containers a last time, waiting up
// to wait for them to be healthy again (a container a test restarted on
// purpose gets the time its health check needs). It returns every problem.
func (h *HostCheck) Finish(wait time.Duration) []string {
	select {
	case <-h.done:
	default:
		close(h.stop)
		<-h.done
	}
	if len(h.before) == 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	var bad []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		bad = h.sample(ctx, true)
		cancel()
		if len(bad) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for id, svcs := range h.resolves {
		h.mu.Lock()
		gone := contains(h.gone, h.before[id].Name)
		h.mu.Unlock()
		if gone {
			continue
		}
		for _, svc := range svcs {
			// A lookup that fails is tried again (a busy engine, a
			// resolver restarting); an exec that cannot run is no verdict.
			var ok bool
			var err error
			for try := 0; try < 3; try++ {
				if ok, err = resolves(ctx, id, svc); ok || err != nil {
					break
				}
				time.Sleep(2 * time.Second)
			}
			switch {
			case err != nil:
				fmt.Fprintf(os.Stderr, "host check: could not look up %q in %s: %v\n", svc, h.before[id].Name, err)
			case !ok:
				bad = append(bad, fmt.Sprintf("container %s resolved %q before the tests and does not now", h.before[id].Name, svc))
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append(append([]string{}, h.problems...), bad...)
}

// Summary says what the check watched.
func (h *HostCheck) Summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var names []string
	for _, c := range h.before {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	n := 0
	for _, s := range h.resolves {
		n += len(s)
	}
	return fmt.Sprintf("host check: %d container(s) healthy before the tests watched in %d samples, %d name lookups checked: %s",
		len(names), h.samples, n, strings.Join(names, ", "))
}

// hostContainers lists the main engine's containers through its API.
func hostContainers(ctx context.Context) ([]hostContainer, error) {
	data, err := apiCall(ctx, MainSocket(), http.MethodGet, "/containers/json?all=1", nil)
	if err != nil {
		return nil, err
	}
	var list []struct {
		ID      string `json:"Id"`
		Names   []string
		State   string
		Status  string
		Created int64
		Labels  map[string]string
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	out := make([]hostContainer, 0, len(list))
	for _, c := range list {
		hc := hostContainer{ID: c.ID, State: c.State, Created: time.Unix(c.Created, 0),
			Project: c.Labels["com.docker.compose.project"], Service: c.Labels["com.docker.compose.service"]}
		if len(c.Names) > 0 {
			hc.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		for _, s := range []string{"unhealthy", "healthy", "health: starting"} {
			if strings.Contains(c.Status, "("+s+")") {
				hc.Health = strings.TrimPrefix(s, "health: ")
				break
			}
		}
		out = append(out, hc)
	}
	return out, nil
}

// resolves reports whether name resolves inside the container, by
// `getent hosts NAME` or, without getent, `nslookup NAME`; the error says
// that neither could run (no such command, an engine error).
func resolves(ctx context.Context, id, name string) (bool, error) {
	var errs []error
	for _, cmd := range [][]string{{"getent", "hosts", name}, {"nslookup", name}} {
		code, err := execCode(ctx, id, cmd)
		if err != nil {
			errs = append(errs, err) // e.g. the command is not in the image
			continue
		}
		if code == 0 {
			return true, nil
		}
		if code != 126 && code != 127 {
			return false, nil
		}
	}
	return false, fmt.Errorf("no lookup command ran: %w", errors.Join(errs...))
}

// execCode runs a command in a container (detached) and returns its exit
// code.
func execCode(ctx context.Context, id string, cmd []string) (int, error) {
	body, _ := json.Marshal(map[string]any{"Cmd": cmd, "AttachStdout": false, "AttachStderr": false})
	data, err := apiCall(ctx, MainSocket(), http.MethodPost, "/containers/"+id+"/exec", jsonBody(body))
	if err != nil {
		return 0, err
	}
	var created struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal(data, &created); err != nil {
		return 0, err
	}
	if _, err := apiCall(ctx, MainSocket(), http.MethodPost, "/exec/"+created.ID+"/start", jsonBody([]byte(`{"Detach":true}`))); err != nil {
		return 0, err
	}
	for {
		data, err := apiCall(ctx, MainSocket(), http.MethodGet, "/exec/"+created.ID+"/json", nil)
		if err != nil {
			return 0, err
		}
		var st struct {
			Running  bool
			ExitCode int
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return 0, err
		}
		if !st.Running {
			return st.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type jsonReader struct{ *bytes.Reader }

func jsonBody(b []byte) jsonReader { return jsonReader{bytes.NewReader(b)} }
