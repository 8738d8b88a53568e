package lint

import (
	"path"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Rule describes one check.
type Rule struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Severity Severity `json:"severity"` // default; a finding may be milder or harsher
	Summary  string   `json:"summary"`
	Fix      string   `json:"fix"`
	check    func(p *project) []Finding
}

// IDs of rules raised by the loader and by suppressions rather than by a check.
const (
	ruleSchema     = "DB090"
	ruleIncomplete = "DB091"
	ruleUnused     = "DB098"
	ruleExpired    = "DB099"
)

// registry lists every rule in ID order. It is the one place rules are registered.
var registry = []Rule{
	{ID: "DB001", Name: "data-not-in-named-volume", Severity: SeverityHigh, check: checkDataVolume,
		Summary: "A database or data store keeps its data outside a named volume (container layer, anonymous volume, tmpfs or bind mount).",
		Fix:     "mount a named volume on the data directory and declare it under top-level volumes with x-dockerbank class userdata"},
	{ID: "DB002", Name: "image-not-pinned", Severity: SeverityHigh, check: checkImagePin,
		Summary: "The image reference floats: no tag, latest, a floating tag, or a variable without default; major-only tags and missing digests are noted.",
		Fix:     "pin an exact version, ideally with its digest: image: postgres:16.4@sha256:..."},
	{ID: "DB003", Name: "fixed-container-name", Severity: SeverityMedium, check: checkContainerName,
		Summary: "A fixed container_name blocks a second instance of the project on the same host and scaling.",
		Fix:     "remove container_name; compose names containers <project>-<service>-<n>"},
	{ID: "DB004", Name: "multiple-processes", Severity: SeverityMedium, check: checkMultiProcess,
		Summary: "A process supervisor (supervisord, s6, runit, init) runs several processes in one container.",
		Fix:     "run one process per container and let compose restart and health-check each"},
	{ID: "DB005", Name: "database-port-published", Severity: SeverityHigh, check: checkDatabasePorts,
		Summary: "A database port is published on all host interfaces.",
		Fix:     "remove the port (other services reach the database on the compose network) or bind it to 127.0.0.1"},
	{ID: "DB006", Name: "admin-port-published", Severity: SeverityMedium, check: checkAdminPorts,
		Summary: "A debugger, management or admin port is published on all host interfaces.",
		Fix:     "remove the port, or bind it to 127.0.0.1 and reach it through an SSH tunnel"},
	{ID: "DB007", Name: "literal-secret", Severity: SeverityHigh, check: checkLiteralSecrets,
		Summary: "A password, token or key is written literally in environment.",
		Fix:     "pass it as a secret file (KEY_FILE=/run/secrets/... with top-level secrets) or as ${KEY:?} from a 0600 .env kept out of version control"},
	{ID: "DB008", Name: "credentials-in-url", Severity: SeverityHigh, check: checkURLCredentials,
		Summary: "A connection string carries a literal password (scheme://user:password@host, password= parameter).",
		Fix:     "take the password from a variable or secret file, e.g. postgresql://user:${DB_PASSWORD:?}@db/app"},
	{ID: "DB009", Name: "secret-build-arg", Severity: SeverityHigh, check: checkBuildArgs,
		Summary: "A secret is passed as a build argument and stays readable in the image history.",
		Fix:     "use build secrets (build.secrets and RUN --mount=type=secret) instead of args"},
	{ID: "DB010", Name: "weak-secret-default", Severity: SeverityMedium, check: checkWeakDefaults,
		Summary: "A secret falls back to a literal default (${VAR:-password}) when its variable is unset.",
		Fix:     "require the variable instead: ${VAR:?set VAR in .env}"},
	{ID: "DB011", Name: "authentication-disabled", Severity: SeverityHigh, check: checkAuthDisabled,
		Summary: "Authentication is switched off (POSTGRES_HOST_AUTH_METHOD=trust, empty MySQL root password, auth flags set to false).",
		Fix:     "remove the setting and give the service a generated password"},
	{ID: "DB012", Name: "privileged", Severity: SeverityHigh, check: checkPrivileged,
		Summary: "The container runs privileged: root on the host in all but name.",
		Fix:     "remove privileged and add only the capabilities or devices the service needs"},
	{ID: "DB013", Name: "sensitive-host-mount", Severity: SeverityHigh, check: checkHostMounts,
		Summary: "The Docker socket or a sensitive host path (/, /etc, /proc, /sys, /root, /var/run...) is mounted.",
		Fix:     "remove the mount; for the Docker API use a filtering socket proxy with only the calls needed"},
	{ID: "DB014", Name: "host-namespace", Severity: SeverityHigh, check: checkHostNamespaces,
		Summary: "The container shares a host namespace (network_mode: host, pid, ipc, uts, userns or cgroup host).",
		Fix:     "remove the setting; publish the ports needed instead of host networking"},
	{ID: "DB015", Name: "dangerous-capability", Severity: SeverityHigh, check: checkCapabilities,
		Summary: "cap_add grants a capability that breaks isolation (ALL, SYS_ADMIN, SYS_MODULE, NET_ADMIN...).",
		Fix:     "drop the capability; if one is truly needed, document why in a suppression"},
	{ID: "DB016", Name: "no-healthcheck", Severity: SeverityLow, check: checkHealthcheck,
		Summary: "The service has no healthcheck (high on databases: dependants and backups cannot wait for them to be ready).",
		Fix:     "add a healthcheck, e.g. test: [\"CMD-SHELL\", \"pg_isready -U $$POSTGRES_USER\"]"},
	{ID: "DB017", Name: "depends-on-without-healthy", Severity: SeverityMedium, check: checkDependsOn,
		Summary: "depends_on a database without condition: service_healthy starts the app before the database accepts connections.",
		Fix:     "use the long form: depends_on: {db: {condition: service_healthy}} and give db a healthcheck"},
	{ID: "DB018", Name: "no-restart-policy", Severity: SeverityLow, check: checkRestart,
		Summary: "No restart policy: the service stays down after a crash or a host reboot.",
		Fix:     "add restart: unless-stopped"},
	{ID: "DB019", Name: "no-log-rotation", Severity: SeverityLow, check: checkLogging,
		Summary: "json-file logs without max-size grow until the disk is full; logging: none discards them.",
		Fix:     "set logging: {driver: json-file, options: {max-size: \"10m\", max-file: \"5\"}} or use the local driver"},
	{ID: "DB020", Name: "no-resource-limits", Severity: SeverityLow, check: checkLimits,
		Summary: "No memory limit: one runaway service can take the host's memory from all others.",
		Fix:     "set mem_limit (or deploy.resources.limits.memory) and pids_limit"},
	{ID: "DB021", Name: "userdata-without-backup-policy", Severity: SeverityMedium, check: checkBackupPolicy,
		Summary: "A volume holding user data has no x-dockerbank backup policy (class and backup).",
		Fix:     "declare it: volumes: {NAME: {x-dockerbank: {class: userdata, backup: postgres-dump}}}"},
	{ID: "DB022", Name: "obsolete-version", Severity: SeverityLow, check: checkVersion,
		Summary: "The top-level version key is obsolete and ignored by Compose v2.",
		Fix:     "remove the version line"},
	{ID: "DB023", Name: "legacy-links", Severity: SeverityLow, check: checkLegacy,
		Summary: "links, external_links and volumes_from are legacy; networks and named volumes replace them.",
		Fix:     "remove links (services resolve each other by name on the project network); share named volumes instead of volumes_from"},
	{ID: "DB024", Name: "compose-v1-format", Severity: SeverityHigh, check: checkV1,
		Summary: "The file uses the compose v1 format (services at top level), which Compose v2 refuses.",
		Fix:     "move the services under a top-level services: key"},
	{ID: "DB025", Name: "security-profile-disabled", Severity: SeverityHigh, check: checkSecurityOpt,
		Summary: "seccomp, AppArmor or SELinux confinement is switched off.",
		Fix:     "remove the security_opt entry; write a custom profile if the default blocks a needed call"},
	{ID: "DB026", Name: "end-of-life-engine", Severity: SeverityMedium, check: checkEOL,
		Summary: "The database engine version is past its end of life and gets no security fixes.",
		Fix:     "upgrade to a supported major version (dump and restore, or pg_upgrade)"},
	{ID: "DB027", Name: "deprecated-image", Severity: SeverityMedium, check: checkDeprecated,
		Summary: "The image is deprecated by its publisher and replaced by another.",
		Fix:     "switch to the replacement image named in the message"},
	{ID: "DB028", Name: "duplicate-host-port", Severity: SeverityHigh, check: checkDuplicatePorts,
		Summary: "Two services that run together publish the same host port; the second cannot start.",
		Fix:     "publish one of them on another host port, or not at all"},
	{ID: "DB029", Name: "host-device", Severity: SeverityMedium, check: checkDevices,
		Summary: "A host device is passed into the container.",
		Fix:     "remove the device unless the service drives that hardware"},
	{ID: "DB030", Name: "invalid-extension", Severity: SeverityMedium, check: checkExtension,
		Summary: "An x-dockerbank block has an unknown key or value.",
		Fix:     "services take role (app|database|proxy|job) and engine; volumes take class, backup and quiesce"},
	{ID: "DB031", Name: "root-user", Severity: SeverityLow, check: checkRootUser,
		Summary: "The service sets user to root (root, 0, 0:0) explicitly.",
		Fix:     "run as an unprivileged user id"},
	{ID: "DB032", Name: "unset-variable", Severity: SeverityLow, check: checkUnsetVariables,
		Summary: "A variable is used without default and is not set: compose substitutes an empty string.",
		Fix:     "set it in .env or give a default: ${VAR:-value}, or require it: ${VAR:?message}"},
	{ID: ruleSchema, Name: "compose-rejects", Severity: SeverityHigh,
		Summary: "Compose's own validation rejects the project; lint analysed it without validation.",
		Fix:     "correct the attribute named in the message"},
	{ID: ruleIncomplete, Name: "incomplete-analysis", Severity: SeverityMedium,
		Summary: "A file referenced by extends or include is missing; services were analysed without it.",
		Fix:     "provide the referenced file"},
	{ID: ruleUnused, Name: "unused-suppression", Severity: SeverityInfo,
		Summary: "A suppression matches no finding; it would silently hide a future one.",
		Fix:     "remove the suppression"},
	{ID: ruleExpired, Name: "expired-suppression", Severity: SeverityMedium,
		Summary: "A suppression passed its expiry date and no longer suppresses anything.",
		Fix:     "fix the findings it covered, or renew it with a new reason and date"},
}

// Rules returns the rule catalogue in ID order.
func Rules() []Rule {
	return slices.Clone(registry)
}

// ruleByID finds a rule in the registry.
func ruleByID(id string) (Rule, bool) {
	for _, r := range registry {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// services returns the project's services sorted by name.
func (p *project) services() []types.ServiceConfig {
	names := make([]string, 0, len(p.model.Services))
	for n := range p.model.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]types.ServiceConfig, 0, len(names))
	for _, n := range names {
		out = append(out, p.model.Services[n])
	}
	return out
}

// isJob reports a one-shot service: x-dockerbank role job, or the target of
// a service_completed_successfully dependency.
func (p *project) isJob(s types.ServiceConfig) bool {
	x := p.serviceExt(s.Name)
	if x.Role == "job" {
		return true
	}
	if x.Role == "" && isClient(s) {
		if _, isData := p.engineOfImage(s); isData {
			return true
		}
	}
	if p.awaited == nil {
		// Computed once: one pass over every service's depends_on.
		p.awaited = map[string]bool{}
		for _, o := range p.model.Services {
			for n, d := range o.DependsOn {
				if d.Condition == types.ServiceConditionCompletedSuccessfully {
					p.awaited[n] = true
				}
			}
		}
	}
	return p.awaited[s.Name]
}

// engineOfImage recognises the engine from the image name alone.
func (p *project) engineOfImage(s types.ServiceConfig) (string, bool) {
	repo, _, _ := imageRef(s.Image)
	last := strings.ToLower(path.Base(repo))
	for _, e := range engines {
		if e.match(last) {
			return e.name, true
		}
	}
	return "", false
}

// milder lowers a severity by one step (not below info).
func milder(s Severity) Severity {
	if s > SeverityInfo {
		return s - 1
	}
	return s
}

func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
