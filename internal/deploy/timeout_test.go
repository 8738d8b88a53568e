package deploy

import (
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/bank"
)

func TestHealthTimeoutFor(t *testing.T) {
	e := &bank.Entry{
		Versions: []bank.Version{{Version: "1"}, {Version: "2", Startup: map[string]bank.Duration{"app": bank.Duration(30 * time.Minute)}}},
		Startup:  map[string]bank.Duration{"app": bank.Duration(20 * time.Minute), "db": bank.Duration(time.Minute)},
	}
	plain := &bank.Entry{Versions: []bank.Version{{Version: "1"}}}
	tests := []struct {
		name    string
		m       *Manager
		e       *bank.Entry
		version string
		want    time.Duration
	}{
		{"no budget: the default", &Manager{}, plain, "1", 5 * time.Minute},
		{"entry budgets plus two minutes", &Manager{}, e, "1", 23 * time.Minute},
		{"the version overrides a service", &Manager{}, e, "2", 33 * time.Minute},
		{"--timeout wins", &Manager{HealthTimeout: time.Minute}, e, "1", time.Minute},
		{"small budgets keep the default", &Manager{}, &bank.Entry{Versions: []bank.Version{{Version: "1"}}, Startup: map[string]bank.Duration{"app": bank.Duration(time.Minute)}}, "1", 5 * time.Minute},
	}
	for _, tt := range tests {
		if got := tt.m.healthTimeoutFor(tt.e, tt.version); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
