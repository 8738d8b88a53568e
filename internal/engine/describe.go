package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Description is a container's configuration and state as the debug views
// show it. Env holds the raw values: callers must redact before printing.
type Description struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Image        string            `json:"image"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	User         string            `json:"user,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	Env          []string          `json:"env"`
	Labels       map[string]string `json:"labels"`
	Ports        []string          `json:"ports"` // "8080/tcp -> 127.0.0.1:18080"
	Mounts       []Mount           `json:"mounts"`
	State        string            `json:"state"`
	StartedAt    time.Time         `json:"startedAt"`
	RestartCount int               `json:"restartCount"`
	ExitCode     int               `json:"exitCode"`
	OOMKilled    bool              `json:"oomKilled"`
	Health       *HealthReport     `json:"health,omitempty"`
	Restart      string            `json:"restartPolicy,omitempty"`
	MemoryLimit  int64             `json:"memoryLimit,omitempty"`
	NanoCPUs     int64             `json:"nanoCPUs,omitempty"`
	ReadOnly     bool              `json:"readOnlyRootfs"`
	Privileged   bool              `json:"privileged"`
}

// Mount is one mount of a container.
type Mount struct {
	Type        string `json:"type"`           // volume, bind, tmpfs
	Name        string `json:"name,omitempty"` // volume name
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
}

// HealthReport is the health check state of a container.
type HealthReport struct {
	Status        string    `json:"status"`
	FailingStreak int       `json:"failingStreak"`
	Test          []string  `json:"test,omitempty"`
	LastOutput    string    `json:"lastOutput,omitempty"`
	LastExitCode  int       `json:"lastExitCode"`
	LastCheck     time.Time `json:"lastCheck,omitzero"`
}

// Describe inspects a container and returns its Description.
func (e *Engine) Describe(ctx context.Context, id string) (Description, error) {
	c, err := e.Inspect(ctx, id)
	if err != nil {
		return Description{}, fmt.Errorf("describe container %s: %w", id, err)
	}
	d := Description{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), RestartCount: c.RestartCount}
	if c.Config != nil {
		d.Image = c.Config.Image
		d.Entrypoint, d.Cmd = c.Config.Entrypoint, c.Config.Cmd
		d.User, d.WorkingDir = c.Config.User, c.Config.WorkingDir
		d.Env = append([]string{}, c.Config.Env...)
		d.Labels = c.Config.Labels
		if hc := c.Config.Healthcheck; hc != nil {
			d.Health = &HealthReport{Test: hc.Test}
		}
	}
	if c.State != nil {
		d.State = string(c.State.Status)
		d.StartedAt, _ = time.Parse(time.RFC3339Nano, c.State.StartedAt)
		d.ExitCode, d.OOMKilled = c.State.ExitCode, c.State.OOMKilled
		if h := c.State.Health; h != nil {
			if d.Health == nil {
				d.Health = &HealthReport{}
			}
			d.Health.Status, d.Health.FailingStreak = string(h.Status), h.FailingStreak
			if n := len(h.Log); n > 0 && h.Log[n-1] != nil {
				last := h.Log[n-1]
				d.Health.LastOutput = strings.TrimSpace(last.Output)
				d.Health.LastExitCode = last.ExitCode
				d.Health.LastCheck = last.End
			}
		}
	}
	if hc := c.HostConfig; hc != nil {
		d.Restart = string(hc.RestartPolicy.Name)
		d.MemoryLimit, d.NanoCPUs = hc.Memory, hc.NanoCPUs
		d.ReadOnly, d.Privileged = hc.ReadonlyRootfs, hc.Privileged
	}
	if ns := c.NetworkSettings; ns != nil {
		for p, binds := range ns.Ports {
			if len(binds) == 0 {
				d.Ports = append(d.Ports, p.String())
				continue
			}
			for _, b := range binds {
				host := b.HostPort
				if b.HostIP.IsValid() {
					host = b.HostIP.String() + ":" + b.HostPort
				}
				d.Ports = append(d.Ports, p.String()+" -> "+host)
			}
		}
		sort.Strings(d.Ports)
	}
	for _, m := range c.Mounts {
		d.Mounts = append(d.Mounts, Mount{Type: string(m.Type), Name: m.Name, Source: m.Source, Destination: m.Destination, RW: m.RW})
	}
	sort.Slice(d.Mounts, func(i, j int) bool { return d.Mounts[i].Destination < d.Mounts[j].Destination })
	return d, nil
}
