package audit

import "strings"

// Rule IDs. The numbering follows the DBK catalogue in
// shared/reference/audit-anchors.md where it has an entry.
const (
	RuleIdentity       = "DBK-PROV-001" // identity and layer history (info)
	RuleBaseImage      = "DBK-PROV-002" // base image guess (info)
	RuleMissingLabels  = "DBK-PROV-003" // missing org.opencontainers.image.* labels
	RuleNoHistory      = "DBK-PROV-006" // history missing or does not match the layers
	RuleOSEOL          = "DBK-FRESH-001"
	RuleDatabaseEOL    = "DBK-FRESH-003"
	RuleCredentialFile = "DBK-DATA-001" // private keys, .env, .pgpass, ...
	RuleSecret         = "DBK-DATA-002" // tokens in files, ENV, ARG, history
	RuleDatabaseFile   = "DBK-DATA-003"
	RuleSQLDump        = "DBK-DATA-004"
	RuleClinical       = "DBK-DATA-005" // DICOM, HL7 v2, FHIR
	RulePersonalData   = "DBK-DATA-006" // CSV with personal-data columns
	RuleRootUser       = "DBK-HARD-001"
	RuleSetuid         = "DBK-HARD-002"
	RuleNoHealthcheck  = "DBK-HARD-004"
	RuleDaemon         = "DBK-HARD-005" // sshd, supervisord
	RuleExposedPort    = "DBK-HARD-009"
	RuleProduct        = "DBK-LIC-001" // restricted product by fingerprint
	RuleNotRedistrib   = "DBK-LIC-002" // labelled not redistributable
	RuleSuppression    = "DBK-SUPP-001"
)

// RuleInfo documents a rule for humans and for SARIF.
type RuleInfo struct {
	ID    string
	Title string
	Fix   string
}

// Rules lists every rule the audit can report, in ID order.
func Rules() []RuleInfo {
	return []RuleInfo{
		{RuleCredentialFile, "credential file or private key in a layer", "remove the file in the layer that adds it (a later rm keeps it in the image), rebuild, and rotate the credential"},
		{RuleSecret, "secret token or password in a layer, ENV, ARG or history", "pass secrets at run time (compose secrets, *_FILE variables, build secrets), rebuild, and rotate the secret"},
		{RuleDatabaseFile, "database files baked into the image", "keep database files in a named volume; rebuild without them"},
		{RuleSQLDump, "SQL dump in the image", "keep dumps in the backup repository, not in images; rebuild without the dump"},
		{RuleClinical, "clinical data file (DICOM, HL7 v2, FHIR) in the image", "remove patient data from the build context (.dockerignore) and rebuild; report the leak to your data protection officer"},
		{RulePersonalData, "CSV file with personal-data columns", "remove personal data from the build context (.dockerignore) and rebuild"},
		{RuleOSEOL, "operating system release past end of life", "rebuild on a supported release of the base image"},
		{RuleDatabaseEOL, "database engine release past end of life", "upgrade to a supported major release (dump and restore or pg_upgrade)"},
		{RuleRootUser, "image runs as root", "add a USER with a non-zero UID, or drop privileges in the entrypoint"},
		{RuleSetuid, "setuid or setgid file", "remove the setuid/setgid bit (chmod u-s,g-s) unless the program needs it"},
		{RuleNoHealthcheck, "no HEALTHCHECK", "add a HEALTHCHECK to the image or a healthcheck to the compose service"},
		{RuleDaemon, "sshd or process supervisor inside the image", "run one process per container; use docker exec instead of sshd"},
		{RuleExposedPort, "exposed port", "expose only the service port; never debug or admin ports"},
		{RuleIdentity, "image identity and layer history", ""},
		{RuleBaseImage, "base image guess", ""},
		{RuleMissingLabels, "missing OCI image labels", "set org.opencontainers.image.source, revision, version, created, vendor and licenses"},
		{RuleNoHistory, "layer history missing or inconsistent", "build with a builder that records history"},
		{RuleProduct, "product that may not be redistributed", "do not push this image to a shared registry; build it locally from the licensee's own copy"},
		{RuleNotRedistrib, "image labelled not redistributable", "keep the image on the host that built it"},
		{RuleSuppression, "suppression expired", "review the finding and renew or remove the suppression"},
	}
}

func ruleFix(id string) string {
	for _, r := range Rules() {
		if r.ID == id {
			return r.Fix
		}
	}
	return ""
}

// isDataRule reports whether a rule is about data or secrets baked into the
// image: these block a push.
func isDataRule(id string) bool {
	return strings.HasPrefix(id, "DBK-DATA-")
}
