package lint

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

var databasePorts = map[uint32]string{
	5432: "PostgreSQL", 3306: "MySQL/MariaDB", 27017: "MongoDB", 6379: "Redis", 9200: "Elasticsearch HTTP",
	9300: "Elasticsearch transport", 389: "LDAP", 636: "LDAPS", 1521: "Oracle", 1433: "SQL Server",
	5984: "CouchDB", 7474: "Neo4j HTTP", 7687: "Neo4j Bolt", 8086: "InfluxDB", 8123: "ClickHouse HTTP",
	5672: "AMQP (RabbitMQ)", 11211: "memcached", 9042: "Cassandra", 2181: "ZooKeeper", 26257: "CockroachDB",
	8983: "Solr",
}

type adminPort struct {
	desc string
	sev  Severity
}

var adminPorts = map[uint32]adminPort{
	5005:  {"JDWP Java debugger (remote code execution)", SeverityHigh},
	8787:  {"JDWP Java debugger of WildFly-based images (remote code execution)", SeverityHigh},
	9990:  {"WildFly management console", SeverityMedium},
	9993:  {"WildFly management console (HTTPS)", SeverityMedium},
	4848:  {"Payara/GlassFish admin console", SeverityMedium},
	6311:  {"Rserve (runs R code for any client)", SeverityHigh},
	8888:  {"Jupyter", SeverityMedium},
	9229:  {"Node.js inspector (remote code execution)", SeverityHigh},
	2375:  {"Docker API without TLS (root on the host)", SeverityHigh},
	2376:  {"Docker API", SeverityHigh},
	15672: {"RabbitMQ management UI", SeverityMedium},
	5050:  {"pgAdmin", SeverityMedium},
	22:    {"SSH", SeverityMedium},
	1099:  {"Java RMI registry", SeverityMedium},
	9000:  {"admin UI (Portainer, MinIO console, ClickHouse native)", SeverityInfo},
}

var adminImages = []string{"pgadmin", "adminer", "phpmyadmin", "mongo-express", "portainer", "rstudio", "jupyter", "kibana", "redisinsight"}

// allInterfaces says whether a port is reachable from other hosts.
func allInterfaces(pc types.ServicePortConfig) bool {
	switch pc.HostIP {
	case "", "0.0.0.0", "::", "[::]":
		return true
	}
	return false
}

func (p *project) portMatch(pc types.ServicePortConfig) func(*yaml.Node) bool {
	return func(n *yaml.Node) bool {
		switch n.Kind {
		case yaml.ScalarNode:
			pcs, err := types.ParsePortConfig(p.interpolate(n.Value))
			if err != nil {
				return false
			}
			for _, c := range pcs {
				if c.Target == pc.Target && c.Published == pc.Published && c.HostIP == pc.HostIP {
					return true
				}
			}
		case yaml.MappingNode:
			_, t := mapGet(n, "target")
			return p.interpolate(scalar(t)) == strconv.Itoa(int(pc.Target))
		}
		return false
	}
}

func published(pc types.ServicePortConfig) string {
	if pc.Published == "" {
		return fmt.Sprintf("%d (on a random host port)", pc.Target)
	}
	if pc.Published == strconv.Itoa(int(pc.Target)) {
		return pc.Published
	}
	return fmt.Sprintf("%d as host port %s", pc.Target, pc.Published)
}

func checkDatabasePorts(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		e, isData := p.engineOf(s)
		for _, pc := range s.Ports {
			if !allInterfaces(pc) {
				continue
			}
			what, ok := databasePorts[pc.Target]
			if !ok && isData && e.isDatabase() {
				what, ok = e.name, true
			}
			if !ok {
				continue
			}
			out = append(out, Finding{Service: s.Name, Position: p.locateItem(s.Name, "ports", p.portMatch(pc)),
				Message: fmt.Sprintf("publishes %s port %s on all host interfaces: the database is reachable from the network, and Docker's own iptables rules bypass the host firewall", what, published(pc)),
				Fix:     fmt.Sprintf("remove the port, or bind it to the loopback: \"127.0.0.1:%d:%d\"", pc.Target, pc.Target)})
		}
	}
	return out
}

func checkAdminPorts(p *project) []Finding {
	var out []Finding
	for _, s := range p.services() {
		repo, _, _ := imageRef(s.Image)
		lr := strings.ToLower(repo)
		adminImage := ""
		for _, a := range adminImages {
			if strings.Contains(lr, a) {
				adminImage = a
			}
		}
		for _, pc := range s.Ports {
			if !allInterfaces(pc) {
				continue
			}
			ap, ok := adminPorts[pc.Target]
			if pc.Target == 8787 && (strings.Contains(lr, "rstudio") || strings.Contains(lr, "hades")) {
				ap, ok = adminPort{"RStudio Server", SeverityMedium}, true
			}
			if pc.Target == 9000 {
				ok = false
			}
			if !ok && adminImage != "" {
				ap, ok = adminPort{adminImage + " admin UI", SeverityMedium}, true
			}
			if !ok {
				continue
			}
			out = append(out, Finding{Service: s.Name, Severity: ap.sev, Position: p.locateItem(s.Name, "ports", p.portMatch(pc)),
				Message: fmt.Sprintf("publishes %s on port %s on all host interfaces", ap.desc, published(pc))})
		}
	}
	return out
}

// coexist says whether two services can run in the same `up`: profiles
// that never meet keep them apart.
func coexist(a, b types.ServiceConfig) bool {
	if len(a.Profiles) == 0 || len(b.Profiles) == 0 {
		return true
	}
	for _, x := range a.Profiles {
		if slices.Contains(b.Profiles, x) {
			return true
		}
	}
	return false
}

func checkDuplicatePorts(p *project) []Finding {
	var out []Finding
	type owner struct {
		s  types.ServiceConfig
		pc types.ServicePortConfig
	}
	taken := map[string][]owner{}
	for _, s := range p.services() {
		for _, pc := range s.Ports {
			if pc.Published == "" || strings.Contains(pc.Published, "-") {
				continue
			}
			ip := pc.HostIP
			if ip == "" || ip == "::" || ip == "[::]" {
				ip = "0.0.0.0"
			}
			proto := pc.Protocol
			if proto == "" {
				proto = "tcp"
			}
			key := ip + "|" + pc.Published + "|" + proto
			for _, o := range taken[key] {
				if o.s.Name != s.Name && coexist(o.s, s) {
					out = append(out, Finding{Service: s.Name, Position: p.locateItem(s.Name, "ports", p.portMatch(pc)),
						Message: fmt.Sprintf("host port %s/%s is also published by service %s: only one of them can start", pc.Published, proto, o.s.Name)})
					break
				}
			}
			taken[key] = append(taken[key], owner{s, pc})
		}
	}
	return out
}
