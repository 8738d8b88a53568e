package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dockerbank/dockerbank/internal/engine"
)

// ErrDumpIncomplete means a database dump ended without its completion
// marker, or empty: it is not stored as a backup.
var ErrDumpIncomplete = errors.New("database dump incomplete")

// Dumper dumps and restores the databases of one database container with
// the server's own client tools, run inside that container.
type Dumper interface {
	// Dump writes one stream per database (and per cluster-wide object
	// set) to the store function, each at a consistent point, with table
	// row counts and checksums taken at that same point. It calls ready
	// once every database's consistent point is fixed, before most of the
	// data is read: from then on the file volumes may be captured.
	Dump(ctx context.Context, store StoreFunc, ready func()) ([]Stream, error)
	// Restore loads one stream written by Dump into the server, replacing
	// that database.
	Restore(ctx context.Context, st Stream, r io.Reader) error
	// Tables returns the row counts and checksums of a database now.
	Tables(ctx context.Context, database string) ([]Table, error)
}

// StoreFunc stores one dump stream under name; it returns when the stream
// is consumed and stored.
type StoreFunc func(ctx context.Context, name string, r io.Reader) error

// dbContainer is the database container a dumper works in.
type dbContainer struct {
	e   *engine.Engine
	id  string
	env map[string]string
}

func newDBContainer(ctx context.Context, e *engine.Engine, id string) (*dbContainer, error) {
	insp, err := e.Inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	if insp.Config != nil {
		for _, kv := range insp.Config.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	return &dbContainer{e: e, id: id, env: env}, nil
}

// setting reads NAME or the file NAME_FILE points to inside the container,
// like the official images' entrypoints do.
func (c *dbContainer) setting(ctx context.Context, name, def string) (string, error) {
	if v := c.env[name]; v != "" {
		return v, nil
	}
	if f := c.env[name+"_FILE"]; f != "" {
		out, err := c.e.ExecOutput(ctx, c.id, "cat", f)
		if err != nil {
			return "", fmt.Errorf("read %s_FILE: %w", name, err)
		}
		return strings.TrimRight(out, "\r\n"), nil
	}
	return def, nil
}

// streamDump runs a dump command in the container, passing its standard
// output to store, and checks both exit status and the completion marker.
func (c *dbContainer) streamDump(ctx context.Context, cmd []string, o engine.ExecOptions, name string, store StoreFunc, marker string, onLine func(string)) (Stream, error) {
	pr, pw := io.Pipe()
	// The digest and the line watcher see the output on the writing side,
	// in the goroutine that checks it when the dump ends: on the reading
	// side the last chunk could still be on its way into the digest.
	d := newDigest()
	var watch io.Writer = d
	if onLine != nil {
		watch = io.MultiWriter(d, &lineWatcher{fn: onLine})
	}
	execErr := make(chan error, 1)
	go func() {
		o.Stdout = io.MultiWriter(watch, pw)
		err := c.e.Exec(ctx, c.id, cmd, o)
		if err == nil && d.n == 0 {
			err = fmt.Errorf("%w: %s wrote nothing", ErrDumpIncomplete, cmd[0])
		}
		if err == nil && marker != "" && !bytes.Contains(d.tail, []byte(marker)) {
			err = fmt.Errorf("%w: %s output does not end with %q (truncated after %d bytes)", ErrDumpIncomplete, cmd[0], marker, d.n)
		}
		if err != nil {
			// The store sees an error instead of EOF and must not
			// produce a snapshot that looks complete.
			pw.CloseWithError(err)
		} else {
			pw.Close()
		}
		execErr <- err
	}()
	serr := store(ctx, name, pr)
	pr.CloseWithError(errors.New("store ended"))
	xerr := <-execErr
	if xerr != nil && serr != nil {
		// Either side may have stopped the other (a full repository cuts
		// the dump short; a failing dump ends the store): name both.
		return Stream{}, fmt.Errorf("dump %s: %w", name, errors.Join(xerr, serr))
	}
	if xerr != nil {
		return Stream{}, fmt.Errorf("dump %s: %w", name, xerr)
	}
	if serr != nil {
		return Stream{}, fmt.Errorf("store dump %s: %w", name, serr)
	}
	return Stream{Name: name, Size: d.n, SHA256: d.Sum()}, nil
}

// lineWatcher calls fn for every complete line written to it (only lines
// up to 4 KiB are seen whole).
type lineWatcher struct {
	fn   func(string)
	line []byte
	done bool
}

func (l *lineWatcher) Write(p []byte) (int, error) {
	if l.done {
		return len(p), nil
	}
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(l.line) < 4096 {
				l.line = append(l.line, rest...)
			}
			break
		}
		l.line = append(l.line, rest[:i]...)
		l.fn(string(l.line))
		l.line = l.line[:0]
		rest = rest[i+1:]
	}
	return len(p), nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteBacktick(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// NewDumper returns the dumper for a database engine in a running
// container.
func NewDumper(ctx context.Context, e *engine.Engine, containerID, dbEngine string) (Dumper, error) {
	c, err := newDBContainer(ctx, e, containerID)
	if err != nil {
		return nil, err
	}
	switch dbEngine {
	case "postgres":
		return newPostgres(ctx, c)
	case "mariadb", "mysql":
		return newMariaDB(ctx, c)
	case "mongo":
		return newMongo(ctx, c)
	}
	return nil, fmt.Errorf("no dumper for database engine %q: use postgres, mariadb, mysql or mongo in x-dockerbank", dbEngine)
}
