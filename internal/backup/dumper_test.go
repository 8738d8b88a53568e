package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/testenv"
)

// dumperCase is one database server a Dumper serves, as the conformance
// suite starts it: a container of a local image, a command that succeeds
// once it accepts clients, and SQL that fills database db.
type dumperCase struct {
	engine string // x-dockerbank engine: postgres, mariadb
	image  string
	env    []string
	ready  []string
	seed   []string
	db     string
}

var dumperCases = []dumperCase{
	{
		engine: "postgres", image: "dockerbank/postgres:15",
		env:   []string{"POSTGRES_USER=clinic", "POSTGRES_DB=clinic", "POSTGRES_PASSWORD=conformance"},
		ready: []string{"pg_isready", "-h", "127.0.0.1", "-U", "clinic", "-d", "clinic"},
		seed: []string{"psql", "-U", "clinic", "-d", "clinic", "-v", "ON_ERROR_STOP=1", "-qc",
			`create table visits(id int primary key, note text, at timestamptz);
			 insert into visits select g, 'visit ' || g || ' ü', timestamptz '2026-01-01' + g * interval '1 hour' from generate_series(1, 5000) g;`},
		db: "clinic",
	},
	{
		engine: "mariadb", image: "dockerbank/mariadb:10.11",
		env:   []string{"MARIADB_ROOT_PASSWORD=conformance"},
		ready: []string{"mariadb-admin", "ping"},
		seed: []string{"mariadb", "-e", `create database clinic; use clinic; create table clinic.visits(id int primary key, note text, at datetime) engine=InnoDB;
			insert into clinic.visits select seq, concat('visit ', seq, ' ü'), '2026-01-01' + interval seq hour from seq_1_to_5000;`},
		db: "clinic",
	},
}

// TestDumperConformance runs the same suite against every Dumper that has
// a local image (MongoDB has none that builds offline: its dumper is not
// proven, see mongo.go): a dump streams what it says it streams (sizes,
// digests), fixes its consistent point once, records the tables it saw;
// loading the streams into an empty server gives the same tables; a store
// that fails ends the dump with that error.
func TestDumperConformance(t *testing.T) {
	for _, dc := range dumperCases {
		t.Run(dc.engine, func(t *testing.T) {
			testenv.RequireImages(t, dc.image)
			e, err := engine.Connect(t.Context(), engine.Options{})
			if err != nil {
				testenv.Missing(t, "engine: %v", err)
			}
			defer e.Close()
			ctx := t.Context()
			src := startDB(t, dc, "src")
			if err := execIn(t, src, dc.seed...); err != nil {
				t.Fatalf("seed: %v", err)
			}
			d, err := backup.NewDumper(ctx, e, src, dc.engine)
			if err != nil {
				t.Fatal(err)
			}

			stored := map[string][]byte{}
			var mu sync.Mutex
			store := func(ctx context.Context, name string, r io.Reader) error {
				data, err := io.ReadAll(r)
				mu.Lock()
				stored[name] = data
				mu.Unlock()
				return err
			}
			readies := 0
			streams, err := d.Dump(ctx, store, func() { readies++ })
			if err != nil {
				t.Fatal(err)
			}
			if readies != 1 {
				t.Errorf("ready called %d times, want once", readies)
			}
			var dumped []backup.Table // of dc.db: its own stream, or the all-databases one
			for _, st := range streams {
				data, ok := stored[st.Name]
				sum := sha256.Sum256(data)
				if !ok || int64(len(data)) != st.Size || hex.EncodeToString(sum[:]) != st.SHA256 {
					t.Errorf("stream %s: stored %d bytes (%v), manifest says %d bytes sha256 %s", st.Name, len(data), ok, st.Size, st.SHA256)
				}
				if st.Database == dc.db || st.Database == "" {
					dumped = append(dumped, st.Tables...)
				}
			}
			want, ok := table(dumped, "visits")
			if !ok || want.Rows != 5000 || want.Checksum == "" {
				t.Fatalf("dump of %s records tables %+v, want visits with 5000 rows and a checksum", dc.db, dumped)
			}

			dst := startDB(t, dc, "dst")
			d2, err := backup.NewDumper(ctx, e, dst, dc.engine)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range streams {
				if err := d2.Restore(ctx, st, bytes.NewReader(stored[st.Name])); err != nil {
					t.Fatalf("restore %s: %v", st.Name, err)
				}
			}
			got, err := d2.Tables(ctx, dc.db)
			if err != nil {
				t.Fatal(err)
			}
			if loaded, _ := table(got, "visits"); loaded != want {
				t.Errorf("visits after loading the dump: %+v, dumped %+v", loaded, want)
			}

			boom := errors.New("store refused")
			failing := func(ctx context.Context, name string, r io.Reader) error {
				io.Copy(io.Discard, r)
				return boom
			}
			dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			if _, err := d.Dump(dctx, failing, func() {}); !errors.Is(err, boom) {
				t.Errorf("dump into a failing store: %v, want the store's error", err)
			}
		})
	}
}

// table finds the table named name in any schema or database.
func table(ts []backup.Table, name string) (backup.Table, bool) {
	for _, tb := range ts {
		if tb.Name == name || strings.HasSuffix(tb.Name, "."+name) {
			return tb, true
		}
	}
	return backup.Table{}, false
}

// startDB runs a database container for the test and waits until it
// accepts clients; it is removed with its anonymous volumes at the end.
func startDB(t *testing.T, dc dumperCase, role string) string {
	t.Helper()
	name := uniq("dumper-" + dc.engine + "-" + role)
	args := []string{"run", "-d", "--name", name}
	for _, kv := range dc.env {
		args = append(args, "-e", kv)
	}
	id := docker(t, append(args, dc.image)...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", "-v", name).Run() })
	deadline := time.Now().Add(2 * time.Minute)
	for execIn(t, id, dc.ready...) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept clients within 2 minutes", name)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return id
}

func execIn(t *testing.T, id string, cmd ...string) error {
	t.Helper()
	// As root: MariaDB's root account authenticates the unix user root.
	out, err := exec.CommandContext(t.Context(), "docker", append([]string{"exec", "-u", "root", id}, cmd...)...).CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)) + ": " + err.Error())
	}
	return nil
}
