package engine

import (
	"context"

	"github.com/docker/compose/v5/pkg/api"
)

// Event is one step of compose's progress: a container created, started,
// waiting, healthy; an image pulled.
type Event struct {
	ID     string // e.g. "Container demo-db-1"
	Status string // Working, Done, Warning, Error
	Text   string // e.g. "Healthy", "Started"
}

// eventSink adapts a func to compose's event processor.
type eventSink func(Event)

func (f eventSink) Start(context.Context, string) {}
func (f eventSink) Done(string, bool)             {}
func (f eventSink) On(events ...api.Resource) {
	for _, ev := range events {
		f(Event{ID: ev.ID, Status: ev.StatusText(), Text: ev.Text})
	}
}
