package lint

import (
	"fmt"
	"strings"
	"testing"
)

// lintString lints one compose file (plus extra files) written to a temp dir.
func lintString(t *testing.T, compose string, extra map[string]string) *Report {
	t.Helper()
	dir := t.TempDir()
	file := write(t, dir, "compose.yaml", compose)
	for n, c := range extra {
		write(t, dir, n, c)
	}
	rep, err := Check(t.Context(), Options{Files: []string{file}, Now: testNow})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return rep
}

func hasFinding(r *Report, rule, service string, line int, sev Severity) bool {
	for _, f := range r.Findings {
		if f.Rule == rule && f.Service == service && (line == 0 || f.Line == line) && (sev == 0 || f.Severity == sev) {
			return true
		}
	}
	return false
}

func dump(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %s %s %s %s: %s\n", f.Position, f.Severity, f.Rule, f.Service, f.Message)
	}
	return b.String()
}

func TestRules(t *testing.T) {
	tests := []struct {
		name    string
		compose string
		extra   map[string]string
		rule    string
		service string
		line    int      // 0: any
		sev     Severity // 0: any
		absent  bool     // the finding must not be there
	}{
		// DB001
		{name: "postgres without volume", rule: "DB001", service: "db", line: 3, sev: SeverityHigh, compose: `services:
  db:
    image: postgres:16.4
`},
		{name: "mariadb on anonymous volume", rule: "DB001", service: "db", line: 5, sev: SeverityHigh, compose: `services:
  db:
    image: mariadb:11.4.3
    volumes:
      - /var/lib/mysql
`},
		{name: "mongo on bind mount", rule: "DB001", service: "db", line: 5, sev: SeverityLow, compose: `services:
  db:
    image: mongo:7.0.14
    volumes:
      - ./data:/data/db
`},
		{name: "postgres PGDATA elsewhere without volume", rule: "DB001", service: "db", line: 3, compose: `services:
  db:
    image: postgres:16.4
    environment:
      PGDATA: /pgdata
    volumes:
      - pg:/var/lib/postgresql/data
volumes:
  pg: {}
`},
		{name: "postgres on named volume", rule: "DB001", service: "db", absent: true, compose: `services:
  db:
    image: postgres:16.4
    volumes:
      - pg:/var/lib/postgresql/data
volumes:
  pg: {}
`},
		{name: "orthanc storage on tmpfs", rule: "DB001", service: "pacs", sev: SeverityHigh, compose: `services:
  pacs:
    image: orthancteam/orthanc:24.10.3
    volumes:
      - type: tmpfs
        target: /var/lib/orthanc/db
`},
		{name: "redis cache is milder", rule: "DB001", service: "cache", sev: SeverityMedium, compose: `services:
  cache:
    image: redis:7.4.1
`},
		{name: "x-dockerbank engine on built image", rule: "DB001", service: "db", line: 2, compose: `services:
  db:
    build: ./db
    x-dockerbank: {role: database, engine: postgres}
`},
		{name: "database image run as a dump job is no database", rule: "DB001", service: "backup", absent: true, compose: `services:
  backup:
    image: postgres:16.4
    entrypoint: ["/bin/bash", "/backup.sh"]
`},
		{name: "server started by a wrapper script is a database", rule: "DB001", service: "db", compose: `services:
  db:
    image: postgres:16.4
    command: "/bin/bash /scripts/entrypoint.sh"
    restart: on-failure
`},
		// DB002
		{name: "untagged image", rule: "DB002", service: "web", line: 3, sev: SeverityHigh, compose: `services:
  web:
    image: nginx
`},
		{name: "latest", rule: "DB002", service: "web", sev: SeverityHigh, compose: `services:
  web:
    image: nginx:latest
`},
		{name: "variable without default", rule: "DB002", service: "web", sev: SeverityHigh, compose: `services:
  web:
    image: nginx:${NGINX_TAG}
`},
		{name: "floating default", rule: "DB002", service: "web", sev: SeverityMedium, compose: `services:
  web:
    image: openmrs/core:${TAG:-nightly}
`},
		{name: "major only", rule: "DB002", service: "web", sev: SeverityInfo, compose: `services:
  web:
    image: postgres:16-alpine
`},
		{name: "digest pinned", rule: "DB002", service: "web", absent: true, compose: `services:
  web:
    image: traefik:v3.1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
`},
		{name: "built image is not a pull", rule: "DB002", service: "web", absent: true, compose: `services:
  web:
    build: .
    image: local/web
`},
		// DB003
		{name: "container_name", rule: "DB003", service: "web", line: 4, compose: `services:
  web:
    image: nginx:1.27.2
    container_name: web
`},
		// DB004
		{name: "supervisord command", rule: "DB004", service: "app", line: 4, compose: `services:
  app:
    image: example/app:1.0.0
    command: ["/usr/bin/supervisord", "-n"]
`},
		{name: "s6 overlay image", rule: "DB004", service: "app", compose: `services:
  app:
    image: example/s6-overlay-base:3.1
`},
		// DB005
		{name: "postgres port on all interfaces", rule: "DB005", service: "db", line: 5, sev: SeverityHigh, compose: `services:
  db:
    image: postgres:16.4
    ports:
      - "5432:5432"
`},
		{name: "database port on loopback", rule: "DB005", service: "db", absent: true, compose: `services:
  db:
    image: postgres:16.4
    ports:
      - "127.0.0.1:5432:5432"
`},
		{name: "mysql port long syntax", rule: "DB005", service: "db", line: 5, compose: `services:
  db:
    image: mysql:8.4.3
    ports:
      - target: 3306
        published: "13306"
`},
		// DB006
		{name: "JDWP", rule: "DB006", service: "arc", line: 6, sev: SeverityHigh, compose: `services:
  arc:
    image: dcm4che/dcm4chee-arc-psql:5.33.1
    ports:
      - "8080:8080"
      - "8787:8787"
      - "9990:9990"
`},
		{name: "wildfly management", rule: "DB006", service: "arc", line: 5, sev: SeverityMedium, compose: `services:
  arc:
    image: dcm4che/dcm4chee-arc-psql:5.33.1
    ports:
      - "9990:9990"
`},
		{name: "pgadmin image", rule: "DB006", service: "pgadmin", compose: `services:
  pgadmin:
    image: dpage/pgadmin4:8.12
    ports:
      - "8081:80"
`},
		// DB007
		{name: "literal password map form", rule: "DB007", service: "db", line: 5, compose: `services:
  db:
    image: postgres:16.4
    environment:
      POSTGRES_PASSWORD: postgres123
`},
		{name: "literal password list form", rule: "DB007", service: "db", line: 5, compose: `services:
  db:
    image: mysql:8.4.3
    environment:
      - MYSQL_ROOT_PASSWORD=root
`},
		{name: "password from variable", rule: "DB007", service: "db", absent: true, compose: `services:
  db:
    image: postgres:16.4
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:?set it}
      POSTGRES_PASSWORD_FILE: /run/secrets/db
      PROFTPD_PASSIVE_PORTS: "30000"
`},
		// DB008
		{name: "credentials in URL", rule: "DB008", service: "app", line: 5, compose: `services:
  app:
    image: example/app:1.0.0
    environment:
      DATABASE_URL: postgresql://galaxy:galaxy@db/galaxy
`},
		{name: "amqp credentials in command", rule: "DB008", service: "app", line: 4, compose: `services:
  app:
    image: example/app:1.0.0
    command: worker --broker amqp://guest:guest@rabbit:5672//
`},
		{name: "jdbc password parameter", rule: "DB008", service: "app", compose: `services:
  app:
    image: example/app:1.0.0
    environment:
      - JDBC=jdbc:postgresql://db/app?user=app&password=hunter2
`},
		{name: "URL with variable password", rule: "DB008", service: "app", absent: true, compose: `services:
  app:
    image: example/app:1.0.0
    environment:
      DATABASE_URL: postgresql://app:${DB_PASSWORD}@db/app
`},
		// DB009
		{name: "secret build arg", rule: "DB009", service: "web", line: 6, sev: SeverityMedium, compose: `services:
  web:
    build:
      context: .
      args:
        XNAT_DATASOURCE_PASSWORD: ${XNAT_DATASOURCE_PASSWORD}
`},
		{name: "literal secret build arg", rule: "DB009", service: "web", sev: SeverityHigh, compose: `services:
  web:
    build:
      context: .
      args:
        - API_TOKEN=abc123
`},
		// DB010
		{name: "weak default in use", rule: "DB010", service: "db", line: 5, sev: SeverityHigh, compose: `services:
  db:
    image: mariadb:11.4.3
    environment:
      MYSQL_ROOT_PASSWORD: ${MYSQL_ROOT_PASSWORD:-openmrs}
`},
		// DB011
		{name: "trust auth", rule: "DB011", service: "db", line: 5, sev: SeverityHigh, compose: `services:
  db:
    image: postgres:16.4
    environment:
      POSTGRES_HOST_AUTH_METHOD: trust
`},
		{name: "empty mysql root password", rule: "DB011", service: "db", compose: `services:
  db:
    image: mysql:8.4.3
    environment:
      - MYSQL_ALLOW_EMPTY_PASSWORD=yes
`},
		// DB012
		{name: "privileged", rule: "DB012", service: "w", line: 4, compose: `services:
  w:
    image: example/w:1.0.0
    privileged: true
`},
		// DB013
		{name: "docker socket read-only", rule: "DB013", service: "w", line: 5, sev: SeverityHigh, compose: `services:
  w:
    image: example/w:1.0.0
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
`},
		{name: "etc read-only", rule: "DB013", service: "w", sev: SeverityMedium, compose: `services:
  w:
    image: example/w:1.0.0
    volumes:
      - /etc:/host/etc:ro
`},
		{name: "project bind is fine", rule: "DB013", service: "w", absent: true, compose: `services:
  w:
    image: example/w:1.0.0
    volumes:
      - ./conf:/etc/app
`},
		// DB014
		{name: "host network", rule: "DB014", service: "w", line: 4, sev: SeverityHigh, compose: `services:
  w:
    image: example/w:1.0.0
    network_mode: host
`},
		{name: "host ipc", rule: "DB014", service: "w", sev: SeverityMedium, compose: `services:
  w:
    image: example/w:1.0.0
    ipc: host
`},
		// DB015
		{name: "SYS_ADMIN", rule: "DB015", service: "w", line: 6, sev: SeverityHigh, compose: `services:
  w:
    image: example/w:1.0.0
    cap_add:
      - CHOWN
      - SYS_ADMIN
`},
		{name: "harmless capability", rule: "DB015", service: "w", absent: true, compose: `services:
  w:
    image: example/w:1.0.0
    cap_add: [CHOWN, NET_BIND_SERVICE]
`},
		// DB016
		{name: "database without healthcheck", rule: "DB016", service: "db", line: 2, sev: SeverityHigh, compose: `services:
  db:
    image: postgres:16.4
`},
		{name: "healthcheck present", rule: "DB016", service: "db", absent: true, compose: `services:
  db:
    image: postgres:16.4
    healthcheck:
      test: ["CMD-SHELL", "pg_isready"]
`},
		// DB017
		{name: "depends_on database short form", rule: "DB017", service: "app", line: 6, compose: `services:
  app:
    image: example/app:1.0.0
    depends_on:
      - cache
      - db
  db:
    image: postgres:16.4
  cache:
    image: redis:7.4.1
`},
		{name: "depends_on healthy", rule: "DB017", service: "app", absent: true, compose: `services:
  app:
    image: example/app:1.0.0
    depends_on:
      db:
        condition: service_healthy
  db:
    image: postgres:16.4
    healthcheck:
      test: ["CMD-SHELL", "pg_isready"]
`},
		{name: "depends_on a completed job", rule: "DB017", service: "app", absent: true, compose: `services:
  app:
    image: example/app:1.0.0
    depends_on:
      migrate:
        condition: service_completed_successfully
  migrate:
    image: postgres:16.4
    command: ["psql", "-f", "/migrate.sql"]
`},
		// DB018, DB019, DB020
		{name: "no restart", rule: "DB018", service: "w", line: 2, compose: `services:
  w:
    image: example/w:1.0.0
`},
		{name: "deploy restart policy counts", rule: "DB018", service: "w", absent: true, compose: `services:
  w:
    image: example/w:1.0.0
    deploy:
      restart_policy:
        condition: on-failure
`},
		{name: "one-shot job needs no restart", rule: "DB018", service: "init", absent: true, compose: `services:
  init:
    image: example/init:1.0.0
  w:
    image: example/w:1.0.0
    depends_on:
      init:
        condition: service_completed_successfully
`},
		{name: "json-file without max-size", rule: "DB019", service: "w", line: 4, compose: `services:
  w:
    image: example/w:1.0.0
    logging:
      driver: json-file
`},
		{name: "log rotation set", rule: "DB019", service: "w", absent: true, compose: `services:
  w:
    image: example/w:1.0.0
    logging:
      options:
        max-size: 10m
`},
		{name: "legacy log_opt without logging block", rule: "DB019", service: "w", absent: true, compose: `services:
  w:
    image: example/w:1.0.0
    log_driver: json-file
    log_opt:
      max-size: 10m
`},
		{name: "no memory limit", rule: "DB020", service: "w", compose: `services:
  w:
    image: example/w:1.0.0
`},
		{name: "deploy memory limit", rule: "DB020", service: "w", absent: true, compose: `services:
  w:
    image: example/w:1.0.0
    deploy:
      resources:
        limits:
          memory: 512M
`},
		// DB021
		{name: "userdata volume without policy", rule: "DB021", service: "db", line: 7, compose: `services:
  db:
    image: postgres:16.4
    volumes:
      - pg:/var/lib/postgresql/data
volumes:
  pg: {}
`},
		{name: "userdata volume with policy", rule: "DB021", service: "db", absent: true, compose: `services:
  db:
    image: postgres:16.4
    volumes:
      - pg:/var/lib/postgresql/data
volumes:
  pg:
    x-dockerbank: {class: userdata, backup: postgres-dump, quiesce: none}
`},
		{name: "wrong dump method", rule: "DB021", service: "db", line: 8, compose: `services:
  db:
    image: postgres:16.4
    volumes:
      - pg:/var/lib/postgresql/data
volumes:
  pg:
    x-dockerbank: {class: userdata, backup: mysql-dump}
`},
		// DB022, DB023, DB024
		{name: "version", rule: "DB022", line: 1, compose: `version: "3.8"
services:
  w:
    image: example/w:1.0.0
`},
		{name: "links", rule: "DB023", service: "w", line: 4, compose: `services:
  w:
    image: example/w:1.0.0
    links: [db]
  db:
    image: postgres:16.4
`},
		{name: "v1 format", rule: "DB024", line: 1, compose: `db:
  image: postgres:9.5
web:
  image: example/w:1.0.0
  links:
    - db:database
`},
		{name: "v1 format services analysed", rule: "DB001", service: "db", line: 2, compose: `db:
  image: postgres:9.5
`},
		// DB025 .. DB032
		{name: "seccomp unconfined", rule: "DB025", service: "w", line: 5, compose: `services:
  w:
    image: example/w:1.0.0
    security_opt:
      - seccomp:unconfined
`},
		{name: "eol postgres", rule: "DB026", service: "db", line: 3, compose: `services:
  db:
    image: postgres:9.5
`},
		{name: "supported postgres", rule: "DB026", service: "db", absent: true, compose: `services:
  db:
    image: postgres:17.2
`},
		{name: "deprecated image", rule: "DB027", service: "kc", compose: `services:
  kc:
    image: jboss/keycloak:16.1.1
`},
		{name: "duplicate host port", rule: "DB028", service: "b", line: 10, compose: `services:
  a:
    image: example/a:1.0.0
    ports:
      - "80:80"
  b:
    image: example/b:1.0.0
    ports:
      - "8443:443"
      - "80:8080"
`},
		{name: "ports in exclusive profiles", rule: "DB028", service: "b", absent: true, compose: `services:
  a:
    image: example/a:1.0.0
    profiles: [x]
    ports: ["80:80"]
  b:
    image: example/b:1.0.0
    profiles: [y]
    ports: ["80:80"]
`},
		{name: "device", rule: "DB029", service: "w", compose: `services:
  w:
    image: example/w:1.0.0
    devices:
      - /dev/ttyUSB0:/dev/ttyUSB0
`},
		{name: "bad extension value", rule: "DB030", line: 8, compose: `services:
  w:
    image: example/w:1.0.0
    x-dockerbank: {role: app}
volumes:
  v:
    x-dockerbank:
      class: patientdata
`},
		{name: "root user", rule: "DB031", service: "w", line: 4, compose: `services:
  w:
    image: example/w:1.0.0
    user: "0:0"
`},
		{name: "unset variable", rule: "DB032", service: "w", line: 5, compose: `services:
  w:
    image: example/w:1.0.0
    environment:
      HOST: ${PUBLIC_HOST}
      ESCAPED: $${NOT_A_VARIABLE}
`},
		// loader findings
		{name: "missing extends file", rule: "DB091", service: "w", line: 4, compose: `services:
  w:
    extends:
      file: missing.yml
      service: base
    image: example/w:1.0.0
`},
		{name: "missing include file", rule: "DB091", line: 2, compose: `include:
  - other/compose.yaml
services:
  w:
    image: example/w:1.0.0
`},
		{name: "required variable unset", rule: "DB090", line: 1, compose: `services:
  w:
    image: example/w:1.0.0
    environment:
      A: ${A:?set A}
`},
		{name: "extends position in the other file", rule: "DB003", service: "w", line: 4, extra: map[string]string{"base.yml": `services:
  base:
    image: example/w:1.0.0
    container_name: fixed
`}, compose: `services:
  w:
    extends:
      file: base.yml
      service: base
`},
		{name: "compose rejects attribute", rule: "DB090", compose: `services:
  w:
    image: example/w:1.0.0
    not_an_attribute: 1
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := lintString(t, tt.compose, tt.extra)
			got := hasFinding(r, tt.rule, tt.service, tt.line, tt.sev)
			if got == tt.absent {
				want := "a"
				if tt.absent {
					want = "no"
				}
				t.Errorf("want %s %s finding for %q at line %d (severity %v); got:\n%s", want, tt.rule, tt.service, tt.line, tt.sev, dump(r))
			}
		})
	}
}

func TestExtendsFindingPointsIntoBaseFile(t *testing.T) {
	r := lintString(t, `services:
  w:
    extends:
      file: base.yml
      service: base
`, map[string]string{"base.yml": `services:
  base:
    image: example/w:1.0.0
    container_name: fixed
`})
	for _, f := range r.Findings {
		if f.Rule == "DB003" {
			if f.File != "base.yml" || f.Line != 4 || f.Col != 5 {
				t.Errorf("DB003 at %s, want base.yml:4:5", f.Position)
			}
			return
		}
	}
	t.Errorf("no DB003 finding:\n%s", dump(r))
}

func TestEnvFileAndProfiles(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, ".env", "TAG=1.2.3\n")
	file := write(t, dir, "compose.yaml", `services:
  w:
    image: example/w:${TAG}
  dbg:
    image: example/debug:latest
    profiles: [debug]
`)
	r, err := Check(t.Context(), Options{Files: []string{file}, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if hasFinding(r, "DB002", "w", 0, SeverityHigh) || !hasFinding(r, "DB002", "w", 3, SeverityInfo) {
		t.Errorf(".env TAG not used for the image:\n%s", dump(r))
	}
	if !hasFinding(r, "DB002", "dbg", 0, SeverityHigh) {
		t.Errorf("services of every profile are checked by default:\n%s", dump(r))
	}
	r, err = Check(t.Context(), Options{Files: []string{file}, Profiles: []string{"prod"}, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if hasFinding(r, "DB002", "dbg", 0, 0) {
		t.Errorf("service of a disabled profile checked:\n%s", dump(r))
	}
}

func TestOverrideFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "compose.yaml", `services:
  db:
    image: postgres:16.4
    ports:
      - "127.0.0.1:5432:5432"
`)
	write(t, dir, "compose.override.yaml", `services:
  db:
    ports: !override
      - "5432:5432"
`)
	r, err := Check(t.Context(), Options{ProjectDir: dir, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Files) != 2 {
		t.Fatalf("files %v, want compose.yaml and its override", r.Files)
	}
	for _, f := range r.Findings {
		if f.Rule == "DB005" {
			if f.File != "compose.override.yaml" || f.Line != 4 {
				t.Errorf("DB005 at %s, want compose.override.yaml:4", f.Position)
			}
			return
		}
	}
	t.Errorf("no DB005 from the override file:\n%s", dump(r))
}

func TestBrokenYAMLInline(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "compose.yaml", "services:\n  w:\n    image: a\n   bad: [\n")
	_, err := Check(t.Context(), Options{Files: []string{file}})
	var ae *AnalysisError
	if !errorsAs(err, &ae) || ae.Pos.Line == 0 || ae.Pos.File != "compose.yaml" {
		t.Fatalf("Check = %v, want AnalysisError at compose.yaml:<line>", err)
	}
}

func TestPartialReport(t *testing.T) {
	r := lintString(t, `services:
  w:
    image: example/w:1.0.0
    env_file: missing.env
`, nil)
	if !r.Partial {
		t.Errorf("report of a project with a missing env_file is not marked partial:\n%s", dump(r))
	}
	r = lintString(t, "services:\n  w:\n    image: example/w:1.0.0\n", nil)
	if r.Partial {
		t.Error("complete project marked partial")
	}
}
