package backup

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/dockerbank/dockerbank/internal/engine"
)

// MariaDB dumps every database with mariadb-dump (or mysqldump)
// --single-transaction. The table checksums are taken under a global read
// lock that is held only until the dump's consistent snapshot has started,
// so checksums and dump agree; writers wait for that short moment only.
type MariaDB struct {
	c        *dbContainer
	password string
	dump     string // mariadb-dump or mysqldump
	client   string // mariadb or mysql
}

var _ Dumper = (*MariaDB)(nil)

const mariaDumpComplete = "-- Dump completed"

func newMariaDB(ctx context.Context, c *dbContainer) (*MariaDB, error) {
	var pw string
	for _, k := range []string{"MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"} {
		v, err := c.setting(ctx, k, "")
		if err != nil {
			return nil, err
		}
		if v != "" {
			pw = v
			break
		}
	}
	m := &MariaDB{c: c, password: pw, dump: "mariadb-dump", client: "mariadb"}
	if _, err := c.e.ExecOutput(ctx, c.id, "sh", "-c", "command -v mariadb-dump"); err != nil {
		m.dump, m.client = "mysqldump", "mysql"
	}
	return m, nil
}

// opts runs the clients as the container's root user (unix_socket
// authentication works) with the root password in the environment, never
// on the command line.
func (m *MariaDB) opts() engine.ExecOptions {
	o := engine.ExecOptions{User: "root"}
	if m.password != "" {
		o.Env = []string{"MYSQL_PWD=" + m.password}
	}
	return o
}

func (m *MariaDB) clientCmd(extra ...string) []string {
	return append([]string{m.client, "-uroot", "-N", "-B", "-n"}, extra...)
}

func (m *MariaDB) session(ctx context.Context) *session {
	return openSession(ctx, m.c.e, m.c.id, m.clientCmd(), m.opts(), "SELECT '"+endMarker+"';")
}

const mariaTables = `SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')%s ORDER BY 1, 2;`

func (m *MariaDB) tablesIn(s *session, db string) (map[string][]Table, error) {
	filter := ""
	if db != "" {
		filter = " AND table_schema = '" + strings.ReplaceAll(db, "'", "''") + "'"
	}
	lines, err := s.query(fmt.Sprintf(mariaTables, filter))
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	out := map[string][]Table{}
	for _, l := range lines {
		schema, name, ok := strings.Cut(l, "\t")
		if !ok {
			continue
		}
		q := quoteBacktick(schema) + "." + quoteBacktick(name)
		res, err := s.query("SELECT COUNT(*) FROM " + q + "; CHECKSUM TABLE " + q + " EXTENDED;")
		if err != nil || len(res) != 2 {
			return nil, fmt.Errorf("checksum table %s.%s: %v %q", schema, name, err, res)
		}
		rows, err := strconv.ParseInt(res[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("checksum table %s.%s: %q: %w", schema, name, res[0], err)
		}
		_, sum, _ := strings.Cut(res[1], "\t")
		out[schema] = append(out[schema], Table{Name: schema + "." + name, Rows: rows, Checksum: "checksum:" + sum})
	}
	return out, nil
}

// Tables implements Dumper; database "" means every database, which is
// how Dump records them (one stream for all).
func (m *MariaDB) Tables(ctx context.Context, db string) ([]Table, error) {
	s := m.session(ctx)
	byDB, err := m.tablesIn(s, "")
	if cerr := s.close(); err == nil && cerr != nil {
		err = cerr
	}
	var out []Table
	for _, ts := range byDB {
		out = append(out, ts...)
	}
	sortTables(out)
	return out, err
}

// Dump implements Dumper.
func (m *MariaDB) Dump(ctx context.Context, store StoreFunc, ready func()) ([]Stream, error) {
	s := m.session(ctx)
	defer s.close()
	if _, err := s.query("FLUSH TABLES WITH READ LOCK;"); err != nil {
		return nil, fmt.Errorf("lock tables for a consistent checksum: %w", err)
	}
	byDB, err := m.tablesIn(s, "")
	if err != nil {
		s.query("UNLOCK TABLES;")
		return nil, err
	}
	var unlockOnce sync.Once
	var unlockErr error
	unlock := func() {
		unlockOnce.Do(func() {
			_, unlockErr = s.query("UNLOCK TABLES;")
			ready()
		})
	}
	// The dump prints "-- Current Database:" only after its consistent
	// snapshot has started: from then on writers may go on.
	onLine := func(l string) {
		if strings.HasPrefix(l, "-- Current Database:") {
			unlock()
		}
	}
	st, err := m.c.streamDump(ctx, []string{m.dump, "-uroot", "--single-transaction", "--all-databases", "--routines", "--events", "--triggers", "--hex-blob"},
		m.opts(), "all-databases.sql", store, mariaDumpComplete, onLine)
	unlock()
	if err != nil {
		return nil, err
	}
	if unlockErr != nil {
		return nil, fmt.Errorf("unlock tables: %w", unlockErr)
	}
	for _, ts := range byDB {
		st.Tables = append(st.Tables, ts...)
	}
	sortTables(st.Tables)
	return []Stream{st}, nil
}

// Restore implements Dumper: the dump recreates every database.
func (m *MariaDB) Restore(ctx context.Context, st Stream, r io.Reader) error {
	if err := m.c.e.Exec(ctx, m.c.id, []string{m.client, "-uroot"}, engine.ExecOptions{User: "root", Env: m.opts().Env, Stdin: r}); err != nil {
		return fmt.Errorf("restore %s: %w", st.Name, err)
	}
	return nil
}
