package lint

import (
	"path"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// engine is what lint knows about a data service: where its data lives and
// how much losing that data hurts.
type engine struct {
	name     string
	dataDirs []string
	// cache marks engines usually holding rebuildable data (caches,
	// queues, search indexes): their findings are one step milder.
	cache bool
}

// engines lists the data services lint recognises; match is tested
// against the image repository's last path element.
var engines = []struct {
	match func(repo string) bool
	engine
}{
	{has("postgres", "postgis", "timescaledb", "pgvector"), engine{name: "postgres", dataDirs: []string{"/var/lib/postgresql/data", "/bitnami/postgresql"}}},
	{has("mariadb"), engine{name: "mariadb", dataDirs: []string{"/var/lib/mysql", "/bitnami/mariadb"}}},
	{has("mysql", "percona"), engine{name: "mysql", dataDirs: []string{"/var/lib/mysql", "/bitnami/mysql"}}},
	{has("mongo"), engine{name: "mongo", dataDirs: []string{"/data/db", "/bitnami/mongodb"}}},
	{has("elasticsearch", "opensearch"), engine{name: "elasticsearch", dataDirs: []string{"/usr/share/elasticsearch/data", "/usr/share/opensearch/data"}}},
	{has("orthanc"), engine{name: "orthanc", dataDirs: []string{"/var/lib/orthanc/db"}}},
	{has("clickhouse"), engine{name: "clickhouse", dataDirs: []string{"/var/lib/clickhouse"}}},
	{has("openldap", "slapd"), engine{name: "ldap", dataDirs: []string{"/var/lib/ldap", "/var/lib/openldap/openldap-data"}}},
	{has("couchdb"), engine{name: "couchdb", dataDirs: []string{"/opt/couchdb/data"}}},
	{has("neo4j"), engine{name: "neo4j", dataDirs: []string{"/data"}}},
	{has("influxdb"), engine{name: "influxdb", dataDirs: []string{"/var/lib/influxdb", "/var/lib/influxdb2"}}},
	{has("mssql"), engine{name: "mssql", dataDirs: []string{"/var/opt/mssql"}}},
	{has("oracle", "database/enterprise", "database/express"), engine{name: "oracle", dataDirs: []string{"/opt/oracle/oradata"}}},
	{has("cassandra"), engine{name: "cassandra", dataDirs: []string{"/var/lib/cassandra"}}},
	{has("dcm4chee-arc"), engine{name: "dcm4chee", dataDirs: []string{"/storage"}}},
	{has("redis", "valkey"), engine{name: "redis", dataDirs: []string{"/data", "/bitnami/redis/data"}, cache: true}},
	{has("rabbitmq", "rabbit"), engine{name: "rabbitmq", dataDirs: []string{"/var/lib/rabbitmq"}, cache: true}},
	{has("solr"), engine{name: "solr", dataDirs: []string{"/var/solr"}, cache: true}},
}

func has(words ...string) func(string) bool {
	return func(repo string) bool {
		for _, w := range words {
			if strings.Contains(repo, w) {
				return true
			}
		}
		return false
	}
}

// imageRef splits an image reference into repository, tag and digest.
func imageRef(ref string) (repo, tag, digest string) {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "@"); i >= 0 {
		ref, digest = ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i >= 0 && !strings.Contains(ref[i:], "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	return ref, tag, digest
}

// engineOf recognises the data engine of a service from x-dockerbank
// engine, else from the image name. Services built locally are unknown.
func (p *project) engineOf(s types.ServiceConfig) (engine, bool) {
	x := p.serviceExt(s.Name)
	if x.Role == "job" || (x.Role == "" && isClient(s)) {
		return engine{}, false
	}
	name := x.Engine
	if name == "" && s.Image != "" {
		repo, _, _ := imageRef(s.Image)
		last := strings.ToLower(path.Base(repo))
		for _, e := range engines {
			if e.match(last) || (strings.Contains(repo, "/database/") && e.match(strings.ToLower(repo))) {
				name = e.name
				break
			}
		}
	}
	if name == "" {
		if x.Role == "database" {
			return engine{name: "database"}, true
		}
		return engine{}, false
	}
	for _, e := range engines {
		if e.name == name {
			out := e.engine
			out.dataDirs = append([]string(nil), e.dataDirs...)
			if name == "postgres" {
				if v := s.Environment["PGDATA"]; v != nil && *v != "" {
					out.dataDirs = []string{path.Clean(*v)}
				}
			}
			return out, true
		}
	}
	return engine{name: name}, true
}

// clientTools start a one-shot client of a database image instead of its server.
var clientTools = []string{"pg_dump", "pg_dumpall", "pg_restore", "psql", "mysqldump", "mariadb-dump", "mysql", "mariadb",
	"mongodump", "mongorestore", "mongosh", "mongo", "redis-cli"}

// isClient reports a service that runs a database image as a client or
// script (a dump job, an init job): its entrypoint is replaced by something
// other than the image's server entrypoint, or its command is a client tool,
// and it has no restart policy that would keep it running.
func isClient(s types.ServiceConfig) bool {
	if s.Restart != "" && s.Restart != types.RestartPolicyNo {
		return false
	}
	if len(s.Entrypoint) > 0 {
		ep := strings.Join(s.Entrypoint, " ")
		return !strings.Contains(ep, "docker-entrypoint") && !strings.Contains(ep, "tini")
	}
	if len(s.Command) > 0 {
		first := path.Base(s.Command[0])
		for _, t := range clientTools {
			if first == path.Base(t) {
				return true
			}
		}
	}
	return false
}

// isDatabase is true for data engines other than caches and file stores.
func (e engine) isDatabase() bool {
	switch e.name {
	case "", "orthanc", "dcm4chee", "solr", "rabbitmq", "redis":
		return false
	}
	return true
}

// eolDates gives end-of-life dates of database major versions (upstream
// support policies). Keys are engine name, then a version prefix.
var eolDates = map[string][]struct {
	version string
	eol     string
}{
	"postgres": {
		{"9", "2021-11-11"}, {"10", "2022-11-10"}, {"11", "2023-11-09"}, {"12", "2024-11-21"},
		{"13", "2025-11-13"}, {"14", "2026-11-12"}, {"15", "2027-11-11"}, {"16", "2028-11-09"}, {"17", "2029-11-08"},
	},
	"mysql": {{"5.5", "2018-12-31"}, {"5.6", "2021-02-28"}, {"5.7", "2023-10-31"}, {"8.0", "2026-04-30"}},
	"mariadb": {
		{"10.0", "2019-03-31"}, {"10.1", "2020-10-17"}, {"10.2", "2022-05-23"}, {"10.3", "2023-05-25"},
		{"10.4", "2024-06-18"}, {"10.5", "2025-06-24"}, {"10.6", "2026-07-06"}, {"10.7", "2023-02-09"},
		{"10.8", "2023-05-20"}, {"10.9", "2023-08-22"}, {"10.10", "2023-11-17"}, {"10.11", "2028-02-16"},
		{"11.0", "2024-06-06"}, {"11.1", "2024-08-21"}, {"11.2", "2024-11-21"}, {"11.3", "2024-05-29"}, {"11.4", "2029-05-29"},
	},
	"mongo": {
		{"3", "2021-04-30"}, {"4.0", "2022-04-30"}, {"4.2", "2023-04-30"}, {"4.4", "2024-02-29"},
		{"5.0", "2024-10-31"}, {"6.0", "2025-07-31"}, {"7.0", "2027-08-31"},
	},
	"elasticsearch": {{"5", "2019-03-11"}, {"6", "2022-02-10"}, {"7.", "2026-01-15"}},
	"redis":         {{"2", "2016-01-01"}, {"3", "2019-01-01"}, {"4", "2020-05-01"}, {"5", "2022-04-27"}, {"6.0", "2023-08-01"}},
}

// eol reports whether a tag of an engine names a version past its end of life at now.
func eol(engine, tag string, now time.Time) (string, bool) {
	if tag == "" || (tag[0] < '0' || tag[0] > '9') {
		return "", false
	}
	// "13-alpine", "9.5.3", "10.8-jammy": compare the numeric part.
	ver := tag
	if i := strings.IndexFunc(tag, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }); i >= 0 {
		ver = tag[:i]
	}
	best, bestDate := "", ""
	for _, e := range eolDates[engine] {
		if matchVersion(ver, e.version) && len(e.version) > len(best) {
			best, bestDate = e.version, e.eol
		}
	}
	if best == "" {
		return "", false
	}
	d, err := time.Parse(time.DateOnly, bestDate)
	if err != nil || now.Before(d) {
		return "", false
	}
	return bestDate, true
}

// matchVersion: "9.5" matches "9"; "10.8" matches "10.8" but "10.11" does not match "10.1".
func matchVersion(ver, prefix string) bool {
	if strings.HasSuffix(prefix, ".") {
		return strings.HasPrefix(ver, prefix)
	}
	if ver == prefix {
		return true
	}
	return strings.HasPrefix(ver, prefix+".")
}
