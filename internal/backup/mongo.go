package backup

import (
	"context"
	"fmt"
	"io"

	"github.com/dockerbank/dockerbank/internal/engine"
)

// Mongo dumps with mongodump --archive (all databases, oplog-free) and
// restores with mongorestore --drop. Not yet proven against a real server:
// no MongoDB image builds offline on the development machines.
type Mongo struct {
	c          *dbContainer
	user, pass string
}

var _ Dumper = (*Mongo)(nil)

func newMongo(ctx context.Context, c *dbContainer) (*Mongo, error) {
	u, err := c.setting(ctx, "MONGO_INITDB_ROOT_USERNAME", "")
	if err != nil {
		return nil, err
	}
	p, err := c.setting(ctx, "MONGO_INITDB_ROOT_PASSWORD", "")
	if err != nil {
		return nil, err
	}
	return &Mongo{c: c, user: u, pass: p}, nil
}

func (m *Mongo) auth() []string {
	if m.user == "" {
		return nil
	}
	return []string{"--username", m.user, "--password", m.pass, "--authenticationDatabase", "admin"}
}

// Dump implements Dumper.
func (m *Mongo) Dump(ctx context.Context, store StoreFunc, ready func()) ([]Stream, error) {
	// mongodump reads collections one after another (no snapshot without
	// a replica set's oplog): the files are captured after it.
	defer ready()
	cmd := append([]string{"mongodump", "--archive", "--quiet"}, m.auth()...)
	st, err := m.c.streamDump(ctx, cmd, engine.ExecOptions{}, "mongo.archive", store, "", nil)
	if err != nil {
		return nil, err
	}
	return []Stream{st}, nil
}

// Restore implements Dumper.
func (m *Mongo) Restore(ctx context.Context, st Stream, r io.Reader) error {
	cmd := append([]string{"mongorestore", "--archive", "--drop", "--quiet"}, m.auth()...)
	if err := m.c.e.Exec(ctx, m.c.id, cmd, engine.ExecOptions{Stdin: r}); err != nil {
		return fmt.Errorf("restore %s: %w", st.Name, err)
	}
	return nil
}

// Tables implements Dumper: collections are not checksummed yet.
func (m *Mongo) Tables(context.Context, string) ([]Table, error) { return nil, nil }
