package audit

import (
	"bufio"
	"io"
	"strings"
	"time"
)

// eolTable maps product -> release cycle -> end of life (YYYY-MM-DD): the
// last day of free public security support (for Debian: the end of LTS; for
// Ubuntu: the end of standard support, without paid ESM; for RHEL and its
// rebuilds: the end of the maintenance phase). Facts written by us from the
// projects' published schedules; update them here.
var eolTable = map[string]map[string]string{
	"debian": {
		"7": "2018-05-31", "8": "2020-06-30", "9": "2022-06-30", "10": "2024-06-30",
		"11": "2026-08-31", "12": "2028-06-30", "13": "2030-06-30",
	},
	"ubuntu": {
		"14.04": "2019-04-25", "16.04": "2021-04-30", "18.04": "2023-05-31", "20.04": "2025-05-31",
		"22.04": "2027-04-01", "24.04": "2029-04-25",
		"22.10": "2023-07-20", "23.04": "2024-01-25", "23.10": "2024-07-11", "24.10": "2025-07-10",
		"25.04": "2026-01-15",
	},
	"alpine": {
		"3.10": "2021-05-01", "3.11": "2021-11-01", "3.12": "2022-05-01", "3.13": "2022-11-01",
		"3.14": "2023-05-01", "3.15": "2023-11-01", "3.16": "2024-05-23", "3.17": "2024-11-22",
		"3.18": "2025-05-09", "3.19": "2025-11-01", "3.20": "2026-04-01", "3.21": "2026-11-01",
		"3.22": "2027-05-01", "3.23": "2027-11-01",
	},
	"rhel":          {"6": "2020-11-30", "7": "2024-06-30", "8": "2029-05-31", "9": "2032-05-31", "10": "2035-05-31"},
	"rocky":         {"8": "2029-05-31", "9": "2032-05-31", "10": "2035-05-31"},
	"almalinux":     {"8": "2029-03-01", "9": "2032-05-31", "10": "2035-05-31"},
	"centos":        {"5": "2017-03-31", "6": "2020-11-30", "7": "2024-06-30", "8": "2021-12-31"},
	"centos-stream": {"8": "2024-05-31", "9": "2027-05-31", "10": "2030-01-01"},
	// Database engines: community end of life of each major release.
	"postgresql": {
		"9.4": "2020-02-13", "9.5": "2021-02-11", "9.6": "2021-11-11", "10": "2022-11-10", "11": "2023-11-09",
		"12": "2024-11-21", "13": "2025-11-13", "14": "2026-11-12", "15": "2027-11-11", "16": "2028-11-09",
		"17": "2029-11-08", "18": "2030-11-14",
	},
	"mysql": {"5.5": "2018-12-31", "5.6": "2021-02-28", "5.7": "2023-10-31", "8.0": "2026-04-30", "8.4": "2032-04-30"},
	"mariadb": {
		"10.2": "2022-05-23", "10.3": "2023-05-25", "10.4": "2024-06-18", "10.5": "2025-06-24",
		"10.6": "2026-07-06", "10.11": "2028-02-16", "11.4": "2029-05-29", "11.8": "2030-06-04",
	},
	"mongodb": {
		"3.6": "2021-04-30", "4.0": "2022-04-30", "4.2": "2023-04-30", "4.4": "2024-02-29",
		"5.0": "2024-10-31", "6.0": "2025-07-31", "7.0": "2027-08-31", "8.0": "2029-10-31",
	},
	// Redis maintains the latest release and the one before: a release is
	// out of support once the second release after it ships.
	"redis": {"4.0": "2020-05-01", "5.0": "2022-04-27", "6.0": "2023-08-15", "6.2": "2025-05-01", "7.0": "2024-07-29", "7.2": "2026-02-28"},
}

// eolSoon is how long before its end of life a release is reported.
const eolSoon = 90 * 24 * time.Hour

type eolStatus int

const (
	eolUnknown eolStatus = iota
	eolSupported
	eolNear
	eolPast
)

// lookupEOL returns the status of product cycle on day now, and the date.
func lookupEOL(product, cycle string, now time.Time) (eolStatus, string) {
	date, ok := eolTable[product][cycle]
	if !ok {
		return eolUnknown, ""
	}
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return eolUnknown, ""
	}
	switch {
	case !now.Before(t.Add(24 * time.Hour)):
		return eolPast, date
	case t.Sub(now) <= eolSoon:
		return eolNear, date
	}
	return eolSupported, date
}

// osRelease is the part of /etc/os-release the audit uses.
type osRelease struct {
	ID, VersionID, Name, Pretty string
}

func parseOSRelease(text string) osRelease {
	var r osRelease
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			r.ID = strings.ToLower(v)
		case "VERSION_ID":
			r.VersionID = v
		case "NAME":
			r.Name = v
		case "PRETTY_NAME":
			r.Pretty = v
		}
	}
	return r
}

// cycle maps an os-release to its eolTable product and release cycle.
func (r osRelease) cycle() (product, cycle string) {
	v := r.VersionID
	switch r.ID {
	case "debian", "rhel", "rocky", "almalinux", "centos":
		product, cycle = r.ID, firstParts(v, 1)
		if r.ID == "centos" && strings.Contains(r.Name, "Stream") {
			product = "centos-stream"
		}
	case "ubuntu", "alpine":
		product, cycle = r.ID, firstParts(v, 2)
	}
	return product, cycle
}

// firstParts returns the first n dot-separated parts of a version.
func firstParts(v string, n int) string {
	parts := strings.SplitN(v, ".", n+1)
	if len(parts) > n {
		parts = parts[:n]
	}
	return strings.Join(parts, ".")
}

// engineCycle maps an engine version string (as official images put it in
// ENV, e.g. "1:10.11.6+maria~ubu2204" or "16.4-1.pgdg120+1") to its cycle.
func engineCycle(engine, version string) string {
	if _, v, ok := strings.Cut(version, ":"); ok {
		version = v // Debian epoch
	}
	end := strings.IndexFunc(version, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if end >= 0 {
		version = version[:end]
	}
	version = strings.Trim(version, ".")
	if version == "" {
		return ""
	}
	if engine == "postgresql" {
		if strings.HasPrefix(version, "9.") || strings.HasPrefix(version, "8.") {
			return firstParts(version, 2)
		}
		return firstParts(version, 1)
	}
	return firstParts(version, 2)
}

// engineOf maps an installed package to a database engine and its release
// cycle: from the package name when it carries the major
// (postgresql-15, mysql-server-8.0), else from its version.
func engineOf(pkg, version string) (engine, cycle string) {
	switch {
	case strings.HasPrefix(pkg, "postgresql-") && isVersion(strings.TrimPrefix(pkg, "postgresql-")):
		return "postgresql", engineCycle("postgresql", strings.TrimPrefix(pkg, "postgresql-"))
	case strings.HasPrefix(pkg, "postgresql") && isVersion(strings.TrimPrefix(pkg, "postgresql")): // Alpine: postgresql16
		return "postgresql", engineCycle("postgresql", strings.TrimPrefix(pkg, "postgresql"))
	case pkg == "postgresql" || pkg == "postgresql-server" || (strings.HasPrefix(pkg, "postgresql") && strings.HasSuffix(pkg, "-server")):
		return "postgresql", engineCycle("postgresql", version)
	case strings.HasPrefix(pkg, "mariadb-server-") && isVersion(strings.TrimPrefix(pkg, "mariadb-server-")):
		return "mariadb", strings.TrimPrefix(pkg, "mariadb-server-")
	case pkg == "mariadb-server" || pkg == "mariadb":
		return "mariadb", engineCycle("mariadb", version)
	case strings.HasPrefix(pkg, "mysql-server-") && isVersion(strings.TrimPrefix(pkg, "mysql-server-")):
		return "mysql", strings.TrimPrefix(pkg, "mysql-server-")
	case pkg == "mysql-server" || pkg == "mysql-community-server" || pkg == "mysql":
		return "mysql", engineCycle("mysql", version)
	case pkg == "mongodb-org-server" || pkg == "mongodb-server":
		return "mongodb", engineCycle("mongodb", version)
	case pkg == "redis-server" || pkg == "redis":
		return "redis", engineCycle("redis", version)
	}
	return "", ""
}

// installedEngines reads a dpkg status file (or, apk true, an apk
// installed database) as a stream and returns "engine cycle" for each
// installed database server package.
func installedEngines(r io.Reader, apk bool) []string {
	var out []string
	seen := map[string]bool{}
	var pkg, version string
	installed := apk
	flush := func() {
		if pkg != "" && installed {
			if e, c := engineOf(pkg, version); e != "" && c != "" && !seen[e+" "+c] {
				seen[e+" "+c] = true
				out = append(out, e+" "+c)
			}
		}
		pkg, version, installed = "", "", apk
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if apk {
			switch {
			case strings.HasPrefix(line, "P:"):
				pkg = line[2:]
			case strings.HasPrefix(line, "V:"):
				version = line[2:]
			}
			continue
		}
		switch {
		case strings.HasPrefix(line, "Package: "):
			pkg = strings.TrimPrefix(line, "Package: ")
		case strings.HasPrefix(line, "Version: "):
			version = strings.TrimPrefix(line, "Version: ")
		case strings.HasPrefix(line, "Status: "):
			installed = strings.HasSuffix(line, " installed") && !strings.Contains(line, "not-installed")
		}
	}
	flush()
	return out
}
