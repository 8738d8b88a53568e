package engine

import (
	"context"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/dockerbank/dockerbank/internal/progress"
)

// eventSink passes compose's progress (a container created, started,
// waiting, healthy; an image pulled) on as progress.Compose events:
// Service is compose's ID ("Container demo-db-1"), State its status
// (Working, Done, Warning, Error), Message its text ("Healthy").
type eventSink struct{ r progress.Reporter }

func (f eventSink) Start(context.Context, string) {}
func (f eventSink) Done(string, bool)             {}
func (f eventSink) On(events ...api.Resource) {
	for _, ev := range events {
		f.r.Report(progress.Event{Phase: progress.Compose, Service: ev.ID, State: ev.StatusText(), Message: ev.Text})
	}
}
