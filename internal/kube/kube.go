package kube

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dockerbank/dockerbank/internal/bank"
)

// ErrLossy means the project uses compose keys that have no faithful
// Kubernetes form; the error is a Problems listing each.
var ErrLossy = errors.New("compose keys cannot be expressed in Kubernetes")

// SecretMode says where the values of the project's secrets come from.
type SecretMode int

const (
	// SecretsEmpty emits each Secret with empty data for the user to fill
	// (the export of a bank entry, which has no values).
	SecretsEmpty SecretMode = iota
	// SecretsExisting emits no Secret: the workloads reference Secrets the
	// user creates from the site's files (the default for an instance).
	SecretsExisting
	// SecretsInclude emits each Secret with the values of Options.SecretValues.
	SecretsInclude
)

// Options says what to export and how.
type Options struct {
	Instance string // instance name; for an entry export, the entry id
	Entry    string // entry id
	Version  string // entry version
	// Distribution is the entry's distribution mode (bank.BuildLocally:
	// its images may not be passed on, so only to a private registry).
	Distribution string
	Namespace    string // default: the instance name
	// Lossy turns every inexpressible key into a warning instead of an error.
	Lossy        bool
	Secrets      SecretMode
	SecretValues map[string]string // compose secret name -> value, for SecretsInclude
	// ReadFile reads bind-mounted files and config files; default os.ReadFile.
	ReadFile func(name string) ([]byte, error)
	// ToolImage runs the init containers that wait for dependencies and the
	// file backups (needs sh, nslookup and tar). Default busybox:1.36.
	ToolImage string
	// VolumeSize is the storage requested for every claim. Default 10Gi.
	VolumeSize string
	// BackupSchedule is the cron schedule of the backup jobs. Default "30 2 * * *".
	BackupSchedule string
	// BackupKeep is how many dumps/archives each backup job keeps. Default 7.
	BackupKeep int
	// Shared are the services the instance takes from shared servers
	// (dockerbank deploy --use): each becomes a Service of type
	// ExternalName pointing at the server.
	Shared []Shared
}

// Shared is a service of the instance that a shared server provides.
type Shared struct {
	Service  string // the entry's service name the application connects to (db)
	Server   string // the server instance (pg1)
	Database string // the instance's database and role in it
	// ServerService is the server's own service name (server); Host, if
	// empty, becomes ServerService.Server.svc.cluster.local: where export
	// k8s of the server puts it with its defaults.
	ServerService string
	Host          string
}

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = dnsLabel(o.Instance)
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.ToolImage == "" {
		o.ToolImage = "busybox:1.36"
	}
	if o.VolumeSize == "" {
		o.VolumeSize = "10Gi"
	}
	if o.BackupSchedule == "" {
		o.BackupSchedule = "30 2 * * *"
	}
	if o.BackupKeep <= 0 {
		o.BackupKeep = 7
	}
}

// Object is one Kubernetes object and the file it is written to.
type Object struct {
	File    string         // e.g. 40-statefulset-demo-db.yaml
	Service string         // the compose service it comes from, if any
	Object  runtime.Object // a typed object of k8s.io/api
}

// Manifests is the result of Convert.
type Manifests struct {
	Options  Options
	Objects  []Object
	Warnings Problems // keys dropped or approximated under Options.Lossy
	// Notes tell the user what to do before applying (secrets to create).
	Notes []string
	// Images maps each service to its image, for Helm values.
	Images map[string]string
}

// Problem is one compose key that has no faithful Kubernetes form.
type Problem struct {
	Service string // service, or "volume NAME", "network NAME"...
	Key     string // compose key, e.g. "cap_add" or "deploy.placement"
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s", p.Service, p.Key, p.Message)
}

// Problems lists every inexpressible key; it is the error of Convert.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  " + p.String()
	}
	return fmt.Sprintf("%s (%d):\n%s\nchange the entry, or pass --allow-lossy to export without them (each is listed as a warning); see docs/kube.md",
		ErrLossy, len(ps), strings.Join(lines, "\n"))
}

// Unwrap makes errors.Is(err, ErrLossy) true.
func (ps Problems) Unwrap() error { return ErrLossy }

// converter holds the state of one conversion.
type converter struct {
	p     *types.Project
	m     *bank.ComposeModel
	o     Options
	probs Problems
	// fromTable marks problems that only repeat the key table's reason.
	fromTable []bool
	out       []Object
	pods      map[string]podParts // by service, for the backup jobs
	notes     []string
}

// refuse records a key without a faithful form. A later, more specific
// message for the same service and key replaces the table's.
func (c *converter) refuse(service, key, format string, args ...any) {
	p := Problem{Service: service, Key: key, Message: fmt.Sprintf(format, args...)}
	for i, q := range c.probs {
		if q.Service == service && q.Key == key {
			if c.fromTable[i] {
				c.probs[i], c.fromTable[i] = p, false
				return
			}
			if q.Message == p.Message {
				return
			}
		}
	}
	c.probs = append(c.probs, p)
	c.fromTable = append(c.fromTable, false)
}

func (c *converter) add(order int, service string, obj runtime.Object, kind, name string) {
	c.out = append(c.out, Object{File: fmt.Sprintf("%02d-%s-%s.yaml", order, strings.ToLower(kind), name), Service: service, Object: obj})
}

// Convert renders a compose project as Kubernetes objects. m is
// bank.Model(p). It returns Problems (wrapping ErrLossy) when a key cannot
// be expressed, unless o.Lossy, where they become Manifests.Warnings.
func Convert(p *types.Project, m *bank.ComposeModel, o Options) (*Manifests, error) {
	o.defaults()
	if o.Instance == "" {
		return nil, fmt.Errorf("convert project %s: no instance name", p.Name)
	}
	c := &converter{p: p, m: m, o: o, pods: map[string]podParts{}}
	c.checkTopLevel()
	images := map[string]string{}
	c.namespace()
	c.secrets()
	c.configs()
	c.claims()
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		c.checkServiceKeys(s)
		images[name] = s.Image
		c.workload(s)
		c.services(s)
	}
	c.networkPolicies()
	c.sharedServices()
	c.backups()
	sort.SliceStable(c.out, func(i, j int) bool { return c.out[i].File < c.out[j].File })
	man := &Manifests{Options: o, Objects: c.out, Notes: c.notes, Images: images}
	sort.SliceStable(c.probs, func(i, j int) bool {
		if c.probs[i].Service != c.probs[j].Service {
			return c.probs[i].Service < c.probs[j].Service
		}
		return c.probs[i].Key < c.probs[j].Key
	})
	if len(c.probs) > 0 {
		if !o.Lossy {
			return nil, c.probs
		}
		man.Warnings = c.probs
	}
	return man, nil
}
