package observe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"sync"

	"github.com/dockerbank/dockerbank/internal/engine"
)

// LogsOptions controls Logs.
type LogsOptions struct {
	engine.LogsOptions
	// Grep keeps only lines matching this regular expression.
	Grep *regexp.Regexp
	// Color prefixes each line with its service name in a colour of its own
	// (for terminals).
	Color bool
	// Secrets are redacted from every line.
	Secrets map[string]string
}

// LogLine is one line of a container's log.
type LogLine struct {
	Service   string
	Container string
	Stream    string // stdout or stderr
	Text      string
}

var prefixColors = []string{"36", "33", "32", "35", "34", "91", "96", "93"}

// Logs writes the logs of containers to w, one line at a time, each
// prefixed with its service ("db  | ..."), interleaved as they arrive.
// With Follow it returns when ctx ends or every container's log ends.
func Logs(ctx context.Context, e *engine.Engine, containers []engine.Container, o LogsOptions, w io.Writer) error {
	width := 0
	for _, c := range containers {
		width = max(width, len(prefixName(c)))
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(containers))
	for i, c := range containers {
		prefix := fmt.Sprintf("%-*s | ", width, prefixName(c))
		if o.Color {
			prefix = "\x1b[" + prefixColors[i%len(prefixColors)] + "m" + prefix + "\x1b[0m"
		}
		emit := func(line []byte) {
			text := string(line)
			if o.Secrets != nil {
				text = RedactText(text, o.Secrets)
			}
			if o.Grep != nil && !o.Grep.MatchString(text) {
				return
			}
			mu.Lock()
			fmt.Fprintf(w, "%s%s\n", prefix, text)
			mu.Unlock()
		}
		out, errw := newLineWriter(emit), newLineWriter(emit)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.Logs(ctx, c.ID, o.LogsOptions, out, errw)
			out.Flush()
			errw.Flush()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// prefixName names a container in prefixes: its service, or its name.
func prefixName(c engine.Container) string {
	if c.Service != "" {
		return c.Service
	}
	return c.Name
}

// lineWriter splits what is written to it into lines.
type lineWriter struct {
	buf  bytes.Buffer
	emit func([]byte)
}

func newLineWriter(emit func([]byte)) *lineWriter { return &lineWriter{emit: emit} }

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := l.buf.Next(i + 1)
		l.emit(bytes.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

// Flush emits a last line without a newline.
func (l *lineWriter) Flush() {
	if l.buf.Len() > 0 {
		l.emit(bytes.TrimRight(l.buf.Bytes(), "\r\n"))
		l.buf.Reset()
	}
}
