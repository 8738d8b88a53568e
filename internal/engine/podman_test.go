package engine

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

func TestHealthDue(t *testing.T) {
	start := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	hc := &container.HealthConfig{Test: []string{"CMD", "true"}, Interval: 2 * time.Second}
	ctr := func(running bool, hc *container.HealthConfig, log ...time.Time) container.InspectResponse {
		h := &container.Health{Status: "starting"}
		for _, end := range log {
			h.Log = append(h.Log, &container.HealthcheckResult{End: end})
		}
		return container.InspectResponse{
			State:  &container.State{Running: running, StartedAt: start.Format(time.RFC3339Nano), Health: h},
			Config: &container.Config{Healthcheck: hc},
		}
	}
	tests := []struct {
		name string
		c    container.InspectResponse
		now  time.Time
		want bool
	}{
		{"just started", ctr(true, hc), start.Add(time.Second), false},
		{"never checked after interval and slack", ctr(true, hc), start.Add(3 * time.Second), true},
		{"checked recently (a timer runs)", ctr(true, hc, start.Add(4*time.Second)), start.Add(5 * time.Second), false},
		{"last check overdue", ctr(true, hc, start.Add(4*time.Second)), start.Add(7 * time.Second), true},
		{"stopped", ctr(false, hc), start.Add(time.Minute), false},
		{"no health check (Podman's empty Health)", ctr(true, nil), start.Add(time.Minute), false},
		{"NONE", ctr(true, &container.HealthConfig{Test: []string{"NONE"}}), start.Add(time.Minute), false},
		{"default interval 30s", ctr(true, &container.HealthConfig{Test: []string{"CMD", "true"}}), start.Add(20 * time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := healthDue(tt.c, tt.now); got != tt.want {
				t.Errorf("healthDue = %v, want %v", got, tt.want)
			}
		})
	}
}
