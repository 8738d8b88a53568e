package bank

import (
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/dockerbank/dockerbank/internal/schedule"
)

// APIVersion is the entry format this version of dockerbank reads.
const APIVersion = "dockerbank/v1"

// Entry is one application of a bank: the curated metadata of entry.yaml and
// the compose model it points at.
type Entry struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	ID         string `yaml:"id" json:"id"`
	// Kind is application (the default) or infrastructure: a server other
	// instances use (`deploy --use SERVICE=INSTANCE`), such as a database
	// server holding one database per tenant.
	Kind           string       `yaml:"kind,omitempty" json:"kind,omitempty"`
	Title          string       `yaml:"title" json:"title"`
	Domain         string       `yaml:"domain" json:"domain"`
	Description    string       `yaml:"description" json:"description"`
	Upstream       string       `yaml:"upstream" json:"upstream"`
	Licence        string       `yaml:"licence" json:"licence"`
	Distribution   Distribution `yaml:"distribution" json:"distribution"`
	Compose        []string     `yaml:"compose" json:"compose"`
	DefaultVersion string       `yaml:"defaultVersion" json:"defaultVersion"`
	Versions       []Version    `yaml:"versions" json:"versions"`
	Variants       []Variant    `yaml:"variants,omitempty" json:"variants,omitempty"`
	Parameters     []Parameter  `yaml:"parameters,omitempty" json:"parameters,omitempty"`
	Checks         Checks       `yaml:"checks,omitempty" json:"checks,omitempty"`
	Requires       []string     `yaml:"requires,omitempty" json:"requires,omitempty"`
	// Shareable lists the services an instance may take from a shared
	// infrastructure instance instead of running its own (`deploy --use`).
	Shareable []Shareable `yaml:"shareable,omitempty" json:"shareable,omitempty"`
	// Startup is the longest each named service may take to become healthy
	// on a first start (database migrations, index builds): its health
	// check must allow that long, and deploy waits that long.
	Startup map[string]Duration `yaml:"startup,omitempty" json:"startup,omitempty"`
	// Fingerprint declares how the entry's data is fingerprinted as the
	// application sees it; backups record it, restores and upgrades
	// compare it.
	Fingerprint []FingerprintSpec `yaml:"fingerprint,omitempty" json:"fingerprint,omitempty"`
	// Test says how `bank test` writes data into a throwaway instance.
	Test     *TestSpec `yaml:"test,omitempty" json:"test,omitempty"`
	Curation Curation  `yaml:"curation" json:"curation"`
	// Protect is the default backup/drill schedule and retention of the
	// entry's instances (a site may override it in site.yaml).
	Protect *schedule.Policy `yaml:"protect,omitempty" json:"protect,omitempty"`
	// Heal is what serve may do when the entry's containers stay unhealthy:
	// off, restart or recreate (the default; a site may override it).
	Heal string `yaml:"heal,omitempty" json:"heal,omitempty"`

	// Filled by Load, not read from entry.yaml.
	Source string        `yaml:"-" json:"source"`
	Model  *ComposeModel `yaml:"-" json:"model,omitempty"`
	// Facts says, per version and service, whether the image facts the
	// entry was checked against were read from the image or recorded.
	Facts []FactOrigin `yaml:"-" json:"facts,omitempty"`
}

// Entry kinds.
const (
	KindApplication    = "application"
	KindInfrastructure = "infrastructure"
)

// IsInfrastructure reports whether instances of the entry serve others.
func (e *Entry) IsInfrastructure() bool { return e.Kind == KindInfrastructure }

// Shareable says how a database service of an entry is replaced by a
// shared server: the tenant gets its own database and role there, named
// after the instance, and the application is told their names through
// the environment variables named here.
type Shareable struct {
	// Service is the entry's database service a shared server replaces.
	Service string `yaml:"service" json:"service"`
	// Engine is the server the service needs (postgres, mariadb).
	Engine string `yaml:"engine" json:"engine"`
	// PasswordSecret is the generated secret the application reads the
	// database password from; it becomes the tenant role's password.
	PasswordSecret string `yaml:"passwordSecret" json:"passwordSecret"`
	// DatabaseEnv and UserEnv are the environment variables of the other
	// services that name the database and the user.
	DatabaseEnv string `yaml:"databaseEnv" json:"databaseEnv"`
	UserEnv     string `yaml:"userEnv" json:"userEnv"`
}

// ShareableService returns the declaration of a shareable service.
func (e *Entry) ShareableService(service string) (Shareable, bool) {
	for _, s := range e.Shareable {
		if s.Service == service {
			return s, true
		}
	}
	return Shareable{}, false
}

// Distribution modes.
const (
	Redistributable = "redistributable"
	BuildLocally    = "build-locally"
	Unavailable     = "unavailable"
)

// Distribution says whether the images of an entry may be passed on.
type Distribution struct {
	Mode string `yaml:"mode" json:"mode"`
	// Source is what the user must supply for build-locally entries.
	Source string `yaml:"source,omitempty" json:"source,omitempty"`
	// SourceCheck names the check `dockerbank build` runs on the user's
	// file before building (one of SourceChecks); empty: none beyond a
	// readable regular file.
	SourceCheck string `yaml:"sourceCheck,omitempty" json:"sourceCheck,omitempty"`
	Notes       string `yaml:"notes,omitempty" json:"notes,omitempty"`
}

// SourceChecks are the checks of a user's source file that `dockerbank
// build` knows (internal/deploy implements each; a test there keeps the two
// lists equal).
var SourceChecks = []string{"redcap-zip"}

// Version pins the image of every service for one release of an entry.
type Version struct {
	Version string `yaml:"version" json:"version"`
	// Images maps a service name to an image reference with a tag.
	Images map[string]string `yaml:"images" json:"images"`
	// Digests optionally pins images further (service -> sha256:...).
	Digests map[string]string `yaml:"digests,omitempty" json:"digests,omitempty"`
	// Build lists services whose image is built locally from the entry.
	Build map[string]Build `yaml:"build,omitempty" json:"build,omitempty"`
	// Compose names the compose files of this version when they differ
	// from the entry's (an image configured another way, say); empty means
	// the entry's compose files. Variants' files still layer over them.
	Compose []string `yaml:"compose,omitempty" json:"compose,omitempty"`
	Notes   string   `yaml:"notes,omitempty" json:"notes,omitempty"`
	// Startup overrides the entry's start-up budgets for this version.
	Startup map[string]Duration `yaml:"startup,omitempty" json:"startup,omitempty"`
}

// Build describes a local image build from a directory of the entry.
type Build struct {
	Context    string            `yaml:"context" json:"context"`
	Dockerfile string            `yaml:"dockerfile,omitempty" json:"dockerfile,omitempty"`
	Args       map[string]string `yaml:"args,omitempty" json:"args,omitempty"`
}

// Variant selects compose profiles and extra compose files.
type Variant struct {
	Name        string   `yaml:"name" json:"name"`
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	Profiles    []string `yaml:"profiles,omitempty" json:"profiles,omitempty"`
	Compose     []string `yaml:"compose,omitempty" json:"compose,omitempty"`
}

// Parameter is a value the user may set with --set; it is passed to compose
// as an interpolation variable.
type Parameter struct {
	Name        string `yaml:"name" json:"name"`
	Default     string `yaml:"default" json:"default"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
}

// Checks are run after a deploy and after a restore.
type Checks struct {
	PostDeploy []Check `yaml:"postDeploy,omitempty" json:"postDeploy,omitempty"`
}

// Check runs a command inside a service's container; exit status 0 passes.
type Check struct {
	Name    string   `yaml:"name" json:"name"`
	Service string   `yaml:"service" json:"service"`
	Exec    []string `yaml:"exec" json:"exec"`
}

// Curation records who reviewed an entry against upstream documentation.
type Curation struct {
	ReviewedBy string    `yaml:"reviewedBy" json:"reviewedBy"`
	ReviewedOn time.Time `yaml:"reviewedOn" json:"reviewedOn"`
	Notes      string    `yaml:"notes,omitempty" json:"notes,omitempty"`
	// Tested says which versions passed `dockerbank bank test` where.
	Tested []Tested `yaml:"tested,omitempty" json:"tested,omitempty"`
	// Images records the facts of images that cannot be read where the
	// entry is checked, with their upstream sources.
	Images []ImageRecord `yaml:"images,omitempty" json:"images,omitempty"`
}

// Duration is a time.Duration written as "90s" or "15m" in entry.yaml.
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v <= 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 90s or 15m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// StartupBudgets returns the start-up budget of each service for a version:
// the entry's, overridden by the version's.
func (e *Entry) StartupBudgets(ver Version) map[string]time.Duration {
	out := map[string]time.Duration{}
	for s, d := range e.Startup {
		out[s] = time.Duration(d)
	}
	for s, d := range ver.Startup {
		out[s] = time.Duration(d)
	}
	return out
}

// Version returns the named version, or the default one when name is empty.
func (e *Entry) Version(name string) (Version, bool) {
	if name == "" {
		name = e.DefaultVersion
	}
	for _, v := range e.Versions {
		if v.Version == name {
			return v, true
		}
	}
	return Version{}, false
}

// VersionNames lists the versions in the order of entry.yaml.
func (e *Entry) VersionNames() []string {
	names := make([]string, len(e.Versions))
	for i, v := range e.Versions {
		names[i] = v.Version
	}
	return names
}

// Variant returns the named variant; the empty name is the plain entry.
func (e *Entry) Variant(name string) (Variant, bool) {
	if name == "" {
		return Variant{Name: ""}, true
	}
	for _, v := range e.Variants {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}
