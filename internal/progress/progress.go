package progress

import "fmt"

// Phases of events. A renderer shows events of phases it does not know by
// their Message.
const (
	// Step is one step of an operation, said in Message.
	Step = "step"
	// Compose is compose's progress of one container or image: Service
	// names it (e.g. "Container demo-db-1"), State is compose's status
	// (Working, Done, Warning, Error), Message its text ("Healthy").
	Compose = "compose"
	// Build is one step of an image build, in Message; Target is the
	// image's tag.
	Build = "build"
	// Capture is a file volume's capture under way: Volume, Done, Total
	// and Seconds (a few times a second).
	Capture = "capture"
	// Captured is a file volume's capture complete: Volume, Items
	// (entries), Done (bytes), Added (new in the repository), Seconds,
	// Mode.
	Captured = "captured"
	// Dumped is a database dump complete: Volume, Service, Items
	// (streams), Done (bytes), Added, Seconds.
	Dumped = "dumped"
	// Group is a backup group complete: Target (the group), Items
	// (members), Done (bytes).
	Group = "group"
	// Push is the registry's progress of an image push: Target is the
	// layer, State the registry's status ("Pushed", "Layer already
	// exists").
	Push = "push"
	// Copy is a copy to an off-site repository under way: Target (the
	// copy's name), Done (bytes sent), Read, Seconds.
	Copy = "copy"
	// RestoreVolume is a file volume about to be restored: Volume (the
	// engine's name), Items (entries), Total (bytes).
	RestoreVolume = "restore-volume"
	// Load is a dump stream about to be loaded: Target (the stream),
	// Service, Total (bytes).
	Load = "load"
)

// Event is one piece of progress.
type Event struct {
	Phase    string `json:"phase"`
	Instance string `json:"instance,omitempty"`
	Service  string `json:"service,omitempty"`
	Volume   string `json:"volume,omitempty"`
	// Target is what the phase works on besides the above: a backup
	// group, an off-site copy, a dump stream.
	Target  string `json:"target,omitempty"`
	Mode    string `json:"mode,omitempty"`
	State   string `json:"state,omitempty"`
	Message string `json:"message,omitempty"`
	// Done and Total are bytes; Read is bytes read where a phase reads
	// and writes different amounts; Added is bytes new in a repository.
	Done    int64   `json:"bytesDone,omitempty"`
	Total   int64   `json:"bytesTotal,omitempty"`
	Read    int64   `json:"bytesRead,omitempty"`
	Added   int64   `json:"bytesAdded,omitempty"`
	Items   int64   `json:"items,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
}

// Reporter receives events. Implementations must be safe for concurrent
// use: dumps and captures report from their own goroutines.
type Reporter interface {
	Report(Event)
}

// Func adapts a function to Reporter.
type Func func(Event)

// Report calls f.
func (f Func) Report(e Event) { f(e) }

// Send reports e to r; a nil r drops it.
func Send(r Reporter, e Event) {
	if r != nil {
		r.Report(e)
	}
}

// Stepf reports a Step event whose Message is the formatted text; a nil r
// drops it.
func Stepf(r Reporter, instance, format string, args ...any) {
	if r != nil {
		r.Report(Event{Phase: Step, Instance: instance, Message: fmt.Sprintf(format, args...)})
	}
}
