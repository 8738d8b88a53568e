package bank

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fingerprint kinds: how the data of an instance is fingerprinted as its
// application sees it (see internal/fingerprint).
const (
	FingerprintPostgres = "postgres" // per table: rows and a checksum, computed in the database container
	FingerprintMariaDB  = "mariadb"  // per table: rows and CHECKSUM TABLE (or a crc32 sum over declared columns)
	FingerprintFiles    = "files"    // per file of a volume: size and sha256
	FingerprintOrthanc  = "orthanc"  // per DICOM instance: the MD5 Orthanc recorded, proven against the stored file
)

var fingerprintKinds = []string{FingerprintPostgres, FingerprintMariaDB, FingerprintFiles, FingerprintOrthanc}

// FingerprintSpec declares one part of an entry's data fingerprint.
type FingerprintSpec struct {
	Kind string `yaml:"kind" json:"kind"`
	// Service is the database service (postgres, mariadb) or the
	// application service (orthanc).
	Service  string `yaml:"service,omitempty" json:"service,omitempty"`
	Database string `yaml:"database,omitempty" json:"database,omitempty"`
	// Tables limits a database fingerprint to these tables (default:
	// every user table, whole rows).
	Tables []FingerprintTable `yaml:"tables,omitempty" json:"tables,omitempty"`
	// Volume is the file volume of a files fingerprint.
	Volume string `yaml:"volume,omitempty" json:"volume,omitempty"`
	// AppendOnly: files only grow (logs); a grown file is compared over
	// the length it had at the capture.
	AppendOnly bool `yaml:"appendOnly,omitempty" json:"appendOnly,omitempty"`
	// RestoreOnly parts are compared after restores and drills, not
	// across upgrades: the application rewrites them as it runs (e.g. the
	// files of an embedded RocksDB).
	RestoreOnly bool `yaml:"restoreOnly,omitempty" json:"restoreOnly,omitempty"`
	// Port, User and PasswordSecret reach an application's REST API.
	Port           int    `yaml:"port,omitempty" json:"port,omitempty"`
	User           string `yaml:"user,omitempty" json:"user,omitempty"`
	PasswordSecret string `yaml:"passwordSecret,omitempty" json:"passwordSecret,omitempty"`
	// Index (orthanc) is the PostgreSQL service of Orthanc's index, with
	// Database, and Volume its storage area: the recorded MD5s then come
	// from one query of the index and the stored files are hashed from the
	// volume, instead of two REST calls per instance (the instances are
	// still listed through the REST API).
	Index string `yaml:"index,omitempty" json:"index,omitempty"`
}

// FingerprintTable is one table of a database fingerprint.
type FingerprintTable struct {
	// Name is schema.table (postgres) or table (mariadb).
	Name string `yaml:"name" json:"name"`
	// Key is a column that only grows (a serial id): rows are compared up
	// to the largest key seen at the capture, and rows added later (by the
	// running application or a newer version) are not differences.
	Key string `yaml:"key,omitempty" json:"key,omitempty"`
	// Columns limits the checksum to these columns (default: the whole
	// row), so that a column a newer version adds does not count.
	Columns []string `yaml:"columns,omitempty" json:"columns,omitempty"`
}

// Name names the part of the data a spec fingerprints, as messages show it.
func (s FingerprintSpec) Name() string {
	switch s.Kind {
	case FingerprintFiles:
		return "files " + s.Volume
	case FingerprintPostgres, FingerprintMariaDB:
		return s.Kind + " " + s.Service + "/" + s.Database
	}
	return s.Kind + " " + s.Service
}

// TestSpec says how `dockerbank bank test` writes data into a throwaway
// instance through the application's own interface.
type TestSpec struct {
	// Set are parameters of the throwaway instances (e.g. a short write
	// interval).
	Set   map[string]string `yaml:"set,omitempty" json:"set,omitempty"`
	Write []TestWrite       `yaml:"write" json:"write"`
}

// Test write kinds.
const (
	WriteExec  = "exec"  // a command in a service's container (exit 0 = written)
	WriteDICOM = "dicom" // generated DICOM files over REST and C-STORE (Orthanc)
)

// TestWrite is one way of writing test data.
type TestWrite struct {
	Kind    string   `yaml:"kind" json:"kind"`
	Service string   `yaml:"service" json:"service"`
	Exec    []string `yaml:"exec,omitempty" json:"exec,omitempty"`
	// Count is how many DICOM instances each protocol stores.
	Count int `yaml:"count,omitempty" json:"count,omitempty"`
}

// Tested records one conformance run (`dockerbank bank test`) of a
// version: where it ran, when, and its result.
type Tested struct {
	Version string    `yaml:"version" json:"version"`
	Variant string    `yaml:"variant,omitempty" json:"variant,omitempty"`
	Where   string    `yaml:"where" json:"where"`
	Date    time.Time `yaml:"date" json:"date"`
	Result  string    `yaml:"result" json:"result"` // pass or fail
}

var (
	pgTableRE = regexp.MustCompile(`^[a-z_][a-z0-9_$]*\.[a-z_][a-z0-9_$]*$`)
	columnRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)
)

// validateFingerprint checks the fingerprint, test and curation.tested
// declarations against the entry and its compose model.
func validateFingerprint(e *Entry, m *ComposeModel, doc *yamlDoc, file string) Problems {
	var ps Problems
	add := func(msg, fix string, keys ...string) {
		ps = append(ps, Problem{File: file, Line: doc.line(keys...), Message: msg, Fix: fix})
	}
	seen := map[string]bool{}
	for i, s := range e.Fingerprint {
		at := []string{"fingerprint", strconv.Itoa(i)}
		if !slices.Contains(fingerprintKinds, s.Kind) {
			add(fmt.Sprintf("fingerprint kind %q is unknown", s.Kind), "use "+strings.Join(fingerprintKinds, ", "), append(at, "kind")...)
			continue
		}
		if seen[s.Name()] {
			add(fmt.Sprintf("fingerprint %s is declared twice", s.Name()), "remove the duplicate", at...)
		}
		seen[s.Name()] = true
		svc, hasSvc := m.Services[s.Service]
		switch s.Kind {
		case FingerprintPostgres, FingerprintMariaDB:
			want := []string{"postgres"}
			if s.Kind == FingerprintMariaDB {
				want = []string{"mariadb", "mysql"}
			}
			if !hasSvc || svc.Role != RoleDatabase || !slices.Contains(want, svc.Engine) {
				add(fmt.Sprintf("fingerprint %s: service %q is not a database service with engine %s", s.Kind, s.Service, strings.Join(want, " or ")),
					"name the database service of the compose file (x-dockerbank role: database)", append(at, "service")...)
			}
			if s.Database == "" {
				add(fmt.Sprintf("fingerprint %s of %s names no database", s.Kind, s.Service), "set database: to the application's database", at...)
			}
			for j, t := range s.Tables {
				tat := append(at, "tables", strconv.Itoa(j))
				if s.Kind == FingerprintPostgres && !pgTableRE.MatchString(t.Name) {
					add(fmt.Sprintf("fingerprint table %q is not schema.table in lower case", t.Name), "write it like public.records", append(tat, "name")...)
				}
				if s.Kind == FingerprintMariaDB && !columnRE.MatchString(t.Name) {
					add(fmt.Sprintf("fingerprint table %q is not a table name", t.Name), "write the table name without the database", append(tat, "name")...)
				}
				if s.Kind == FingerprintMariaDB && t.Key != "" && len(t.Columns) == 0 {
					add(fmt.Sprintf("fingerprint table %s: a mariadb key needs columns", t.Name), "list the columns the checksum covers", tat...)
				}
				for _, c := range append(slices.Clone(t.Columns), t.Key) {
					if c != "" && !columnRE.MatchString(c) {
						add(fmt.Sprintf("fingerprint table %s: %q is not a column name", t.Name, c), "use plain column names", tat...)
					}
				}
				if t.Key != "" && len(t.Columns) > 0 && !slices.Contains(t.Columns, t.Key) {
					add(fmt.Sprintf("fingerprint table %s: key %s is not one of its columns", t.Name, t.Key), "add the key to columns", append(tat, "key")...)
				}
			}
		case FingerprintFiles:
			v, ok := m.Volumes[s.Volume]
			if !ok || v.Class != ClassUserdata || v.Backup != BackupFiles {
				add(fmt.Sprintf("fingerprint files: volume %q is not a userdata volume backed up as files", s.Volume),
					"name a volume with x-dockerbank {class: userdata, backup: files}", append(at, "volume")...)
			}
		case FingerprintOrthanc:
			if !hasSvc || svc.Role != RoleApp {
				add(fmt.Sprintf("fingerprint orthanc: service %q is not an app service", s.Service), "name the Orthanc service", append(at, "service")...)
			}
			if s.Port <= 0 || s.Port > 65535 {
				add(fmt.Sprintf("fingerprint orthanc: port %d is not a port", s.Port), "set port: to the container port of the REST API (8042)", at...)
			}
			if s.User == "" {
				add("fingerprint orthanc names no REST user", "set user: to a registered user of the entry", at...)
			}
			if _, ok := m.Secrets[s.PasswordSecret]; !ok {
				add(fmt.Sprintf("fingerprint orthanc: passwordSecret %q is not a generated secret of the entry", s.PasswordSecret),
					"name the secret holding the REST user's password", at...)
			}
			if s.Index != "" || s.Database != "" || s.Volume != "" {
				if idx, ok := m.Services[s.Index]; !ok || idx.Role != RoleDatabase || idx.Engine != "postgres" {
					add(fmt.Sprintf("fingerprint orthanc: index %q is not a database service with engine postgres", s.Index),
						"name the PostgreSQL service of Orthanc's index, or leave out index, database and volume", append(at, "index")...)
				}
				if s.Database == "" {
					add("fingerprint orthanc names an index but no database", "set database: to the index database", at...)
				}
				if v, ok := m.Volumes[s.Volume]; !ok || v.Class != ClassUserdata || v.Backup != BackupFiles {
					add(fmt.Sprintf("fingerprint orthanc: volume %q is not a userdata volume backed up as files", s.Volume),
						"name Orthanc's storage volume, with x-dockerbank {class: userdata, backup: files}", at...)
				}
			}
		}
		if s.Kind != FingerprintFiles && s.Kind != FingerprintOrthanc && s.Volume != "" || s.Kind != FingerprintOrthanc && (s.Port != 0 || s.User != "" || s.PasswordSecret != "" || s.Index != "") ||
			s.Kind != FingerprintPostgres && s.Kind != FingerprintMariaDB && s.Kind != FingerprintOrthanc && s.Database != "" ||
			s.Kind != FingerprintPostgres && s.Kind != FingerprintMariaDB && len(s.Tables) > 0 ||
			s.Kind != FingerprintFiles && s.AppendOnly || s.Kind == FingerprintFiles && s.Service != "" {
			add(fmt.Sprintf("fingerprint %s has keys that do not belong to its kind", s.Kind),
				"postgres/mariadb take service, database, tables; files takes volume, appendOnly; orthanc takes service, port, user, passwordSecret and optionally index, database, volume", at...)
		}
	}
	if t := e.Test; t != nil {
		if len(t.Write) == 0 {
			add("test declares no write", "add test.write: how bank test writes data through the application", "test")
		}
		for k := range t.Set {
			if !slices.ContainsFunc(e.Parameters, func(p Parameter) bool { return p.Name == k }) {
				add(fmt.Sprintf("test.set: %s is not a parameter of the entry", k), "declare it under parameters", "test", "set", k)
			}
		}
		for i, w := range t.Write {
			at := []string{"test", "write", strconv.Itoa(i)}
			if _, ok := m.Services[w.Service]; !ok {
				add(fmt.Sprintf("test write: service %q is not a service of the entry", w.Service), "name a service of the compose file", append(at, "service")...)
			}
			switch w.Kind {
			case WriteExec:
				if len(w.Exec) == 0 {
					add("test write exec has no command", "set exec: to an argv list", at...)
				}
			case WriteDICOM:
				if w.Count <= 0 {
					add("test write dicom stores no instances", "set count: to how many instances each protocol stores", at...)
				}
			default:
				add(fmt.Sprintf("test write kind %q is unknown", w.Kind), "use exec or dicom", append(at, "kind")...)
			}
		}
	}
	for i, t := range e.Curation.Tested {
		at := []string{"curation", "tested", strconv.Itoa(i)}
		if _, ok := e.Version(t.Version); !ok || t.Version == "" {
			add(fmt.Sprintf("curation.tested: version %q is not a version of the entry", t.Version), "name one of "+strings.Join(e.VersionNames(), ", "), append(at, "version")...)
		}
		if _, ok := e.Variant(t.Variant); !ok {
			add(fmt.Sprintf("curation.tested: variant %q is not a variant of the entry", t.Variant), "name a variant or leave it out", append(at, "variant")...)
		}
		if t.Where == "" || t.Date.IsZero() {
			add("curation.tested: where or date is missing", "say where it ran (machine, engine) and when (YYYY-MM-DD)", at...)
		}
		if t.Result != "pass" && t.Result != "fail" {
			add(fmt.Sprintf("curation.tested: result %q is not pass or fail", t.Result), "write the result of `dockerbank bank test`", append(at, "result")...)
		}
	}
	return ps
}
