package backup_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
)

// archivePlaintext is an archive file decompressed (the tar stream).
func archivePlaintext(t *testing.T, file string) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fillVolume writes files with the properties a restore must keep: owners,
// modes (setuid too), sub-second mtimes, relative and absolute symlinks,
// a hard link, an extended attribute, deep and oddly named paths.
func fillVolume(t *testing.T, root string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a/b"), 0o750))
	must(os.Chown(filepath.Join(root, "a/b"), 1000, 1000))
	big := make([]byte, 3<<20)
	rand.Read(big)
	must(os.WriteFile(filepath.Join(root, "a/b/data.bin"), big, 0o640))
	must(os.Chown(filepath.Join(root, "a/b/data.bin"), 999, 998))
	must(os.WriteFile(filepath.Join(root, "text.txt"), []byte(strings.Repeat("patient record\n", 1000)), 0o644))
	must(syscall.Setxattr(filepath.Join(root, "text.txt"), "user.dockerbank", []byte("kept"), 0))
	must(os.Link(filepath.Join(root, "text.txt"), filepath.Join(root, "hard.txt")))
	must(os.WriteFile(filepath.Join(root, "setuid"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Chmod(filepath.Join(root, "setuid"), 0o4755))
	must(os.WriteFile(filepath.Join(root, "empty"), nil, 0o600))
	must(os.MkdirAll(filepath.Join(root, "deep/1/2/3/4"), 0o700))
	must(os.WriteFile(filepath.Join(root, "deep/1/2/3/4/file"), []byte("deep"), 0o644))
	must(os.WriteFile(filepath.Join(root, "space name ü.txt"), []byte("odd"), 0o644))
	must(os.Symlink("a/b/data.bin", filepath.Join(root, "link")))
	must(os.Lchown(filepath.Join(root, "link"), 1234, 1234))
	must(os.Symlink("/etc/hostname", filepath.Join(root, "abs-link")))
	mt := time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	for _, f := range []string{"a/b/data.bin", "text.txt", "empty", "deep/1/2/3/4/file"} {
		must(os.Chtimes(filepath.Join(root, f), mt, mt))
	}
}

// pgTables returns count and md5 of every row of every user table of
// every database, computed independently of dockerbank.
func pgTables(t *testing.T, ctr, user string) map[string]string {
	t.Helper()
	out := map[string]string{}
	dbs := docker(t, "exec", ctr, "psql", "-U", user, "-d", "postgres", "-tAc", "select datname from pg_database where not datistemplate and datname <> 'postgres'")
	for _, db := range strings.Fields(dbs) {
		tables := docker(t, "exec", ctr, "psql", "-U", user, "-d", db, "-tAc",
			"select format('%I.%I', schemaname, tablename) from pg_tables where schemaname not in ('pg_catalog','information_schema')")
		for _, tb := range strings.Fields(tables) {
			out[db+"/"+tb] = docker(t, "exec", ctr, "psql", "-U", user, "-d", db, "-tAc",
				fmt.Sprintf("select count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from %s t", tb))
		}
	}
	return out
}

func mariaTables(t *testing.T, ctr string) map[string]string {
	t.Helper()
	out := map[string]string{}
	list := docker(t, "exec", "-u", "root", ctr, "mariadb", "-N", "-B", "-e",
		"select concat(table_schema, '.', table_name) from information_schema.tables where table_type='BASE TABLE' and table_schema not in ('mysql','information_schema','performance_schema','sys')")
	for _, tb := range strings.Fields(list) {
		cols := docker(t, "exec", "-u", "root", ctr, "mariadb", "-N", "-B", "-e",
			fmt.Sprintf("select group_concat(concat('hex(`', column_name, '`)') order by ordinal_position) from information_schema.columns where concat(table_schema, '.', table_name) = '%s'", tb))
		out[tb] = docker(t, "exec", "-u", "root", ctr, "mariadb", "-N", "-B", "-e",
			fmt.Sprintf("set session group_concat_max_len = 1073741824; select concat(count(*), ' ', md5(coalesce(group_concat(concat_ws(',', %s) order by 1 separator '|'), ''))) from %s", cols, tb))
	}
	return out
}

func fillDatabases(t *testing.T, inst string) {
	t.Helper()
	docker(t, "exec", inst+"-pg-1", "psql", "-U", "clinic", "-d", "clinic", "-v", "ON_ERROR_STOP=1", "-qc", `
		create table patients(id serial primary key, name text, born date, data jsonb, img bytea, note text);
		insert into patients(name, born, data, img, note) select 'p' || g, date '1950-01-01' + g, jsonb_build_object('g', g, 'tags', array['a', 'b']),
			decode(md5(g::text), 'hex'), case when g % 7 = 0 then null else 'ümlaut ' || g end from generate_series(1, 20000) g;
		create schema lab;
		create table lab.results(id int, v numeric, at timestamptz default '2026-01-01T00:00:00Z');
		insert into lab.results(id, v) select g, g * 1.5 from generate_series(1, 3000) g;`)
	docker(t, "exec", inst+"-pg-1", "psql", "-U", "clinic", "-d", "clinic", "-qc", "create database research owner clinic")
	docker(t, "exec", inst+"-pg-1", "psql", "-U", "clinic", "-d", "research", "-v", "ON_ERROR_STOP=1", "-qc",
		`create table cohort(id int primary key, label text); insert into cohort select g, 'c' || g from generate_series(1, 500) g;`)
	docker(t, "exec", "-u", "root", inst+"-maria-1", "mariadb", "-e", `
		create database redcap; use redcap;
		create table redcap.redcap_data(project_id int, record varchar(100), field_name varchar(100), value text, primary key (project_id, record, field_name)) engine=InnoDB;
		insert into redcap.redcap_data select 1, concat('r', seq), concat('f', seq % 50), concat('value ', seq, ' ü') from seq_1_to_20000;
		create table redcap.redcap_edocs_metadata(doc_id int primary key auto_increment, stored_name varchar(255), doc blob);
		insert into redcap.redcap_edocs_metadata(stored_name, doc) select concat('doc', seq), unhex(md5(seq)) from seq_1_to_1000;`)
}

// TestRoundTripDatabasesAndFiles backs up an instance with PostgreSQL,
// MariaDB and a file volume, restores it as a new instance, and checks
// that every table and every file is identical: for every backup path,
// file volumes read from the host mountpoint (dir) or through the engine's
// archive API (tar, as on a remote engine), stored in the repository or
// written to an archive file.
func TestRoundTripDatabasesAndFiles(t *testing.T) {
	needEngine(t)
	roundTripDatabasesAndFiles(t, []roundTripPath{{"dir", "repo"}, {"tar", "repo"}, {"dir", "archive"}, {"tar", "archive"}})
}

// roundTripPath is one backup path: how file volumes are read (dir, tar)
// and where the backup goes (repo, archive).
type roundTripPath struct{ via, store string }

// roundTripDatabasesAndFiles is TestRoundTripDatabasesAndFiles on the
// engine at DOCKER_HOST; Podman runs it too (podman_test.go).
func roundTripDatabasesAndFiles(t *testing.T, paths []roundTripPath) {
	for _, tc := range paths {
		via := tc.via
		t.Run(via+"-"+tc.store, func(t *testing.T) {
			start := time.Now()
			defer func() { t.Logf("round trip took %s", time.Since(start).Round(100*time.Millisecond)) }()
			s := newSite(t)
			src := uniq("bk-rt-" + via)
			s.deploy("bktest", src, "HEARTBEAT=0")
			fillDatabases(t, src)
			srcFiles := mountpoint(t, src+"_files")
			fillVolume(t, srcFiles)
			wantFiles := tree(t, srcFiles, true)
			wantSource := tree(t, srcFiles, true) // wantFiles is cut to what the path keeps
			srcUploads := mountpoint(t, src+"_uploads")
			if err := os.Chmod(srcUploads, 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(srcUploads, 1000, 1001); err != nil {
				t.Fatal(err)
			}
			wantPG := pgTables(t, src+"-pg-1", "clinic")
			wantMaria := mariaTables(t, src+"-maria-1")
			if len(wantPG) != 3 || len(wantMaria) != 2 {
				t.Fatalf("fixture: %d pg tables, %d mariadb tables", len(wantPG), len(wantMaria))
			}

			dst := src + "-copy"
			t.Cleanup(func() { s.remove(dst) })
			if tc.store == "archive" {
				archive := filepath.Join(t.TempDir(), "a.tar.zst")
				pass := filepath.Join(t.TempDir(), "pass")
				if err := os.WriteFile(pass, []byte("a long archive passphrase\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				s.must("backup", src, "--via", via, "--archive", archive, "--passphrase-file", pass)
				secret, err := os.ReadFile(filepath.Join(s.dir, "instances", src, "secrets", "pg_password"))
				if err != nil || len(secret) == 0 {
					t.Fatalf("read the instance's secret: %v", err)
				}
				if plain := archivePlaintext(t, archive); bytes.Contains(plain, secret) {
					t.Errorf("the archive holds the secret pg_password in plaintext")
				}
				s.must("restore", src, "--archive", archive, "--as", dst, "--passphrase-file", pass)
			} else {
				s.must("backup", src, "--via", via)
				s.must("restore", src, "--as", dst)
			}

			gotFiles := tree(t, mountpoint(t, dst+"_files"), true)
			if via == "tar" || tc.store == "archive" {
				// The engine's archive API (Docker 20.10) carries no user
				// xattrs and whole-second mtimes only, nor does tar in the
				// helper, which takes its place on Podman; restic 0.14's dump
				// (which writes archives) rounds mtimes to the second.
				for k, w := range wantFiles {
					g := gotFiles[k]
					w.Xattrs, g.Xattrs = "", ""
					if g.MTime%1e9 == 0 && (g.MTime == w.MTime/1e9*1e9 || g.MTime == (w.MTime+5e8)/1e9*1e9) {
						w.MTime = g.MTime
					}
					wantFiles[k] = w
					if _, ok := gotFiles[k]; ok {
						gotFiles[k] = g
					}
				}
			}
			if diff := cmp.Diff(wantFiles, gotFiles); diff != "" {
				t.Errorf("restored files differ (-backed up +restored):\n%s", diff)
			}
			dstUploads := mountpoint(t, dst+"_uploads")
			if fi, err := os.Stat(dstUploads); err != nil {
				t.Error(err)
			} else if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o750 || st.Uid != 1000 || st.Gid != 1001 {
				t.Errorf("restored empty volume root: %v %d:%d, want drwxr-x--- 1000:1001", fi.Mode(), st.Uid, st.Gid)
			}
			if ents, err := os.ReadDir(dstUploads); err != nil || len(ents) != 0 {
				t.Errorf("restored empty volume holds %d entries (%v)", len(ents), err)
			}
			if diff := cmp.Diff(wantPG, pgTables(t, dst+"-pg-1", "clinic")); diff != "" {
				t.Errorf("restored PostgreSQL tables differ:\n%s", diff)
			}
			if diff := cmp.Diff(wantMaria, mariaTables(t, dst+"-maria-1")); diff != "" {
				t.Errorf("restored MariaDB tables differ:\n%s", diff)
			}
			if diff := cmp.Diff(wantSource, tree(t, srcFiles, true)); via == "dir" && diff != "" {
				t.Errorf("the source volume changed:\n%s", diff)
			}
			st := containerStates(t, dst)
			for n, state := range st {
				if state != "running" {
					t.Errorf("restored container %s is %s", n, state)
				}
			}
		})
	}
}

// TestRoundTripDemo backs up the demo instance while it runs, restores it
// as a new instance and checks every record and file that existed at the
// backup (the restored app adds its own afterwards).
func TestRoundTripDemo(t *testing.T) {
	needEngine(t)
	roundTripDemo(t)
}

// roundTripDemo is TestRoundTripDemo on the engine at DOCKER_HOST; Podman
// runs it too (podman_test.go).
func roundTripDemo(t *testing.T) {
	start := time.Now()
	defer func() { t.Logf("round trip took %s", time.Since(start).Round(100*time.Millisecond)) }()
	s := newSite(t)
	src := uniq("bk-rtd")
	cp := src + "-copy"
	s.deploy("demo", src, "DEMO_INTERVAL=3600")
	srcFiles := mountpoint(t, src+"_files")
	fillVolume(t, srcFiles)
	s.must("backup", src)
	want := tree(t, srcFiles, true)
	wantAudit, _ := os.ReadFile(filepath.Join(mountpoint(t, src+"_audit"), "audit.log"))
	maxID := docker(t, "exec", src+"-db-1", "psql", "-U", "demo", "-tAc", "select max(id) from records")
	rows := func(ctr string) string {
		return docker(t, "exec", ctr, "psql", "-U", "demo", "-tAc",
			"select count(*) || ' ' || md5(string_agg(t::text, '|' order by id)) from records t where id <= "+maxID)
	}
	wantRows := rows(src + "-db-1")

	t.Cleanup(func() { s.remove(cp) })
	s.must("restore", src, "--as", cp)
	got := tree(t, mountpoint(t, cp+"_files"), true)
	for p := range got {
		if _, ok := want[p]; !ok && strings.HasPrefix(p, "files/record-") {
			delete(got, p) // written by the restored app after its start
		}
	}
	for _, m := range []map[string]entry{want, got} {
		e := m["files"]
		e.MTime = 0
		m["files"] = e
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("restored files differ:\n%s", diff)
	}
	gotAudit, _ := os.ReadFile(filepath.Join(mountpoint(t, cp+"_audit"), "audit.log"))
	if !strings.HasPrefix(string(gotAudit), string(wantAudit)) {
		t.Errorf("restored audit log does not start with the backed-up one:\n%s\nvs\n%s", gotAudit, wantAudit)
	}
	if got := rows(cp + "-db-1"); got != wantRows {
		t.Errorf("restored records: %s, want %s", got, wantRows)
	}
	gs := s.groups(src)
	if len(gs) != 1 || gs[0]["state"] != "complete" {
		t.Errorf("groups: %v", gs)
	}
	names := make([]string, 0, len(got))
	for k := range got {
		names = append(names, k)
	}
	sort.Strings(names)
	t.Logf("%d entries compared", len(names))
}
