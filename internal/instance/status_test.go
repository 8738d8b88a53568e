package instance

import (
	"testing"

	"github.com/dockerbank/dockerbank/internal/engine"
)

func TestStatusHealth(t *testing.T) {
	c := func(state, health string) engine.Container { return engine.Container{State: state, Health: health} }
	tests := []struct {
		name string
		ctrs []engine.Container
		want string
	}{
		{"none", nil, "missing"},
		{"all healthy", []engine.Container{c("running", "healthy"), c("running", "healthy")}, "healthy"},
		{"one unhealthy", []engine.Container{c("running", "healthy"), c("running", "unhealthy")}, "unhealthy"},
		{"starting", []engine.Container{c("running", "healthy"), c("running", "starting")}, "starting"},
		{"one stopped", []engine.Container{c("running", "healthy"), c("exited", "")}, "partial"},
		{"all stopped", []engine.Container{c("exited", ""), c("exited", "")}, "stopped"},
		{"no healthchecks", []engine.Container{c("running", "")}, "running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Status{Containers: tt.ctrs}).Health(); got != tt.want {
				t.Errorf("Health() = %s, want %s", got, tt.want)
			}
		})
	}
}
