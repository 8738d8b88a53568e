package audit

import (
	"archive/tar"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

var (
	privateKeyRe  = regexp.MustCompile(`-----BEGIN ((RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----`)
	copyFromStdin = regexp.MustCompile(`(?m)^COPY [^\n]* FROM stdin;`)
	fhirRe        = regexp.MustCompile(`"resourceType"\s*:\s*"(Bundle|Patient)"`)
)

// tokenRule finds a secret token in text. keyword is a cheap pre-filter:
// the regular expression runs only on files that contain it.
type tokenRule struct {
	name    string
	keyword string
	re      *regexp.Regexp
}

var tokenRules = []tokenRule{
	{"AWS access key ID", "AKIA", regexp.MustCompile(`\bAKIA[0-9A-Z]{16}\b`)},
	{"AWS temporary access key ID", "ASIA", regexp.MustCompile(`\bASIA[0-9A-Z]{16}\b`)},
	{"AWS secret access key", "ws_secret_access_key", regexp.MustCompile(`(?i)aws_secret_access_key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})`)},
	{"AWS secret access key", "WS_SECRET_ACCESS_KEY", regexp.MustCompile(`AWS_SECRET_ACCESS_KEY["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})`)},
	{"GCP service account key", "service_account", regexp.MustCompile(`"type"\s*:\s*"service_account"[\s\S]*"private_key"\s*:\s*"(-----BEGIN)`)},
	{"Azure storage account key", "AccountKey=", regexp.MustCompile(`AccountKey=([A-Za-z0-9+/]{80,100}={0,2})`)},
	{"Azure AD client secret", "client_secret", regexp.MustCompile(`(?i)azure[_a-z]*client_secret["']?\s*[:=]\s*["']?([A-Za-z0-9_~.\-]{34,40})`)},
	{"GitHub personal access token", "ghp_", regexp.MustCompile(`\bghp_[A-Za-z0-9]{36}\b`)},
	{"GitHub OAuth token", "gho_", regexp.MustCompile(`\bgho_[A-Za-z0-9]{36}\b`)},
	{"GitHub user-to-server token", "ghu_", regexp.MustCompile(`\bghu_[A-Za-z0-9]{36}\b`)},
	{"GitHub server-to-server token", "ghs_", regexp.MustCompile(`\bghs_[A-Za-z0-9]{36}\b`)},
	{"GitHub refresh token", "ghr_", regexp.MustCompile(`\bghr_[A-Za-z0-9]{36}\b`)},
	{"GitHub fine-grained token", "github_pat_", regexp.MustCompile(`github_pat_[A-Za-z0-9_]{82}`)},
	{"GitLab personal access token", "glpat-", regexp.MustCompile(`glpat-[A-Za-z0-9_\-]{20}`)},
	{"GitLab deploy token", "gldt-", regexp.MustCompile(`\bgldt-[A-Za-z0-9_\-]{20}`)},
	{"GitLab runner token", "glrt-", regexp.MustCompile(`\bglrt-[A-Za-z0-9_\-]{20}`)},
	{"Bitbucket app password", "ATBB", regexp.MustCompile(`\bATBB[A-Za-z0-9_=.\-]{28,}`)},
	{"Slack token", "xox", regexp.MustCompile(`xox[baprs]-[A-Za-z0-9\-]{10,}`)},
	{"Stripe live key", "sk_live_", regexp.MustCompile(`sk_live_[A-Za-z0-9]{24,}`)},
}

// tokenGates are bytes of which every token keyword holds one. A text
// without any of them (most files) skips all keyword searches, and a rule
// runs its keyword search only when its gate byte occurs.
const tokenGates = "_-=AW"

func gateOf(keyword string) byte {
	for i := 0; i < len(keyword); i++ {
		if strings.IndexByte(tokenGates, keyword[i]) >= 0 {
			return keyword[i]
		}
	}
	return 0
}

// findTokens returns each distinct secret the token rules find in text.
func findTokens(text []byte) []tokenMatch {
	var present [len(tokenGates)]bool
	anyGate := false
	for i := range len(tokenGates) {
		present[i] = bytes.IndexByte(text, tokenGates[i]) >= 0
		anyGate = anyGate || present[i]
	}
	if !anyGate {
		return nil
	}
	var out []tokenMatch
	for _, r := range tokenRules {
		if g := gateOf(r.keyword); g != 0 && !present[strings.IndexByte(tokenGates, g)] {
			continue
		}
		if !bytes.Contains(text, []byte(r.keyword)) {
			continue
		}
		for _, m := range r.re.FindAllSubmatch(text, 3) {
			v := m[0]
			if len(m) > 1 {
				v = m[1] // the secret part of "name = secret"
			}
			out = append(out, tokenMatch{name: r.name, value: string(v)})
		}
	}
	return out
}

type tokenMatch struct{ name, value string }

// redact shows the start of a secret and its length, never all of it.
func redact(s string) string {
	if strings.HasPrefix(s, "-----BEGIN") {
		return "(private key)"
	}
	if len(s) <= 8 {
		return fmt.Sprintf("****(%d chars)", len(s))
	}
	keep := min(4, len(s)/4)
	return fmt.Sprintf("%s****(%d chars)", s[:keep], len(s))
}

// credentialFiles are names whose mere presence is a finding; content
// decides only the message.
var credentialFiles = map[string]string{
	".pgpass":          "PostgreSQL password file",
	".my.cnf":          "MySQL client config with credentials",
	".netrc":           "netrc with login credentials",
	".git-credentials": "git credential store",
	".htpasswd":        "htpasswd password hashes",
	"credentials.json": "credentials file",
	"id_rsa":           "SSH private key",
	"id_dsa":           "SSH private key",
	"id_ecdsa":         "SSH private key",
	"id_ed25519":       "SSH private key",
}

// checkCredentialName handles files found by name; true when it reported.
func (w *walker) checkCredentialName(scan *layerScan, p, dir, base, lower string, head []byte) bool {
	switch {
	case base == ".env" || (strings.HasPrefix(base, ".env.") && !exampleEnv(base)):
		keys := envSecretKeys(head)
		msg := "dotenv file"
		if len(keys) > 0 {
			msg += " with secret-like variables " + strings.Join(keys, ", ")
		}
		scan.add(candidate{rule: RuleCredentialFile, severity: SeverityHigh, path: p, message: msg})
		w.checkTokens(scan, p, head)
		return true
	case base == "config.json" && strings.HasSuffix(dir, ".docker"):
		if bytes.Contains(head, []byte(`"auths"`)) && bytes.Contains(head, []byte(`"auth"`)) {
			scan.add(candidate{rule: RuleCredentialFile, severity: SeverityHigh, path: p, message: "docker client config with registry credentials (auths)"})
			return true
		}
		return false
	case base == "credentials" && strings.HasSuffix(dir, ".aws"):
		scan.add(candidate{rule: RuleCredentialFile, severity: SeverityHigh, path: p, message: "AWS credentials file"})
		w.checkTokens(scan, p, head)
		return true
	}
	if what, ok := credentialFiles[base]; ok {
		sev := SeverityHigh
		if strings.HasPrefix(base, "id_") {
			if !privateKeyRe.Match(head) {
				return false // a public key or an unrelated file called id_rsa
			}
			sev = keySeverity(p)
		}
		scan.add(candidate{rule: RuleCredentialFile, severity: sev, path: p, message: what})
		return true
	}
	switch {
	case strings.HasSuffix(lower, ".p12") || strings.HasSuffix(lower, ".pfx") || strings.HasSuffix(lower, ".jks") || strings.HasSuffix(lower, ".keystore"):
		if strings.HasPrefix(p, "etc/ssl/") || strings.HasPrefix(p, "etc/pki/") || strings.Contains(p, "/cacerts") || strings.HasPrefix(p, "usr/") {
			return false
		}
		scan.add(candidate{rule: RuleCredentialFile, severity: SeverityMedium, path: p, message: "key store (PKCS#12 or Java key store) that may hold private keys"})
		return true
	}
	return false
}

func exampleEnv(base string) bool {
	for _, s := range []string{"example", "sample", "template", "dist", "defaults"} {
		if strings.Contains(base, s) {
			return true
		}
	}
	return false
}

// envSecretKeys returns the names of secret-like variables set in a dotenv
// file (never their values).
func envSecretKeys(text []byte) []string {
	var keys []string
	for line := range strings.SplitSeq(string(text), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(k, "#") || strings.TrimSpace(v) == "" {
			continue
		}
		if secretName(k) && len(keys) < 10 {
			keys = append(keys, strings.TrimSpace(k))
		}
	}
	return keys
}

// secretName reports variable names that usually hold secrets. It matches
// whole words of the name, so KEY_SHA512 or ACCESS_LOG are not secrets.
func secretName(name string) bool {
	n := strings.ToUpper(strings.TrimSpace(name))
	words := strings.FieldsFunc(n, func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	for i, w := range words {
		switch w {
		case "PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "TOKEN", "APIKEY", "CREDENTIALS", "PASSPHRASE":
			if w == "PWD" && len(words) == 1 {
				return false // the shell's working directory
			}
			return true
		case "KEY":
			if i > 0 {
				switch words[i-1] {
				case "API", "ACCESS", "SECRET", "PRIVATE", "ENCRYPTION", "SIGNING", "MASTER", "ACCOUNT", "LICENSE", "LICENCE":
					return true
				}
			}
		}
	}
	return false
}

// keySeverity lowers private keys that packages ship as test fixtures.
func keySeverity(p string) Severity {
	if strings.Contains(p, "snakeoil") {
		return SeverityMedium // Debian's ssl-cert makes one per install: shared by every copy of the image
	}
	for _, s := range []string{"/test/", "/tests/", "/testdata/", "/testing/", "/fixtures/"} {
		if strings.Contains(p, s) && (strings.HasPrefix(p, "usr/") || strings.Contains(p, "node_modules/") || strings.Contains(p, "site-packages/")) {
			return SeverityLow
		}
	}
	if strings.HasPrefix(p, "usr/share/doc/") {
		return SeverityLow
	}
	return SeverityCritical
}

func (w *walker) checkTokens(scan *layerScan, p string, text []byte) {
	seen := map[string]bool{}
	for _, m := range findTokens(text) {
		if seen[m.value] {
			continue
		}
		seen[m.value] = true
		scan.add(candidate{rule: RuleSecret, severity: SeverityCritical, path: p,
			message: fmt.Sprintf("%s %s", m.name, redact(m.value))})
	}
}

// checkText applies the content rules for text files.
func (w *walker) checkText(scan *layerScan, hdr *tar.Header, p, lower string, head []byte) {
	if bytes.Contains(head, []byte("-----BEGIN")) {
		if m := privateKeyRe.Find(head); m != nil {
			scan.add(candidate{rule: RuleCredentialFile, severity: keySeverity(p), path: p,
				message: "private key (" + strings.Trim(string(m), "-") + ")"})
		}
	}
	w.checkTokens(scan, p, head)
	switch {
	case hl7Message(head):
		scan.add(candidate{rule: RuleClinical, severity: SeverityCritical, path: p,
			message: "HL7 v2 message (MSH segment): patient data"})
	case bytes.Contains(head, []byte(`"resourceType"`)) && fhirRe.Match(head):
		m := fhirRe.FindSubmatch(head)
		scan.add(candidate{rule: RuleClinical, severity: SeverityCritical, path: p,
			message: fmt.Sprintf("FHIR %s resource: patient data", m[1])})
	}
	switch {
	case strings.HasSuffix(lower, ".sql") || strings.HasSuffix(lower, ".dump") || strings.HasSuffix(lower, ".sql.txt") ||
		bytes.HasPrefix(head, []byte("-- PostgreSQL database dump")) || bytes.HasPrefix(head, []byte("-- MySQL dump")) ||
		bytes.HasPrefix(head, []byte("-- MariaDB dump")):
		if kind, data := sqlDumpKind(head); kind != "" {
			sev, note := SeverityLow, ""
			switch {
			case strings.HasPrefix(p, "usr/"):
				note = ", under /usr: likely shipped by a package"
			case data:
				sev = SeverityCritical
			}
			scan.add(candidate{rule: RuleSQLDump, severity: sev, path: p,
				message: fmt.Sprintf("SQL %s (%s%s)", kind, sizeText(hdr.Size), note)})
		}
	case strings.HasSuffix(lower, ".csv") || strings.HasSuffix(lower, ".tsv"):
		if cols := personalColumns(head); cols != nil {
			scan.add(candidate{rule: RulePersonalData, severity: SeverityHigh, path: p,
				message: "CSV with personal-data columns " + strings.Join(cols, ", ")})
		}
	}
	w.checkLicenceContent(scan, p, head)
}

// hl7Message reports text whose first line, or any line, is an MSH segment.
func hl7Message(text []byte) bool {
	const msh = "MSH|^~\\&"
	if bytes.HasPrefix(text, []byte(msh)) {
		return true
	}
	return bytes.Contains(text, []byte("\rMSH|^~\\&")) || bytes.Contains(text, []byte("\nMSH|^~\\&"))
}

// Column names of personal data, normalised (lower case, no separators).
// Strong ones identify a person alone; weak ones count from two on.
var (
	strongColumns = map[string]bool{
		"mrn": true, "patientid": true, "patid": true, "patientnumber": true, "ssn": true, "socialsecuritynumber": true,
		"dob": true, "birthdate": true, "dateofbirth": true, "geburtsdatum": true, "gebdatum": true,
		"kvnr": true, "versichertennummer": true, "krankenversichertennummer": true, "nhsnumber": true,
		"insurancenumber": true, "medicalrecordnumber": true, "fallnummer": true, "patientenid": true,
	}
	weakColumns = map[string]bool{
		"name": true, "firstname": true, "givenname": true, "lastname": true, "surname": true, "familyname": true,
		"fullname": true, "vorname": true, "nachname": true, "address": true, "street": true, "strasse": true,
		"straße": true, "zip": true, "postcode": true, "plz": true, "phone": true, "telephone": true, "telefon": true,
		"mobile": true, "email": true, "mail": true, "sex": true, "gender": true, "geschlecht": true, "city": true, "ort": true,
	}
)

// personalColumns returns the personal-data columns of a CSV header line,
// or nil when it has none that matter.
func personalColumns(text []byte) []string {
	line, _, _ := bytes.Cut(text, []byte("\n"))
	sep := ","
	switch {
	case bytes.Count(line, []byte("\t")) > bytes.Count(line, []byte(",")):
		sep = "\t"
	case bytes.Count(line, []byte(";")) > bytes.Count(line, []byte(",")):
		sep = ";"
	}
	var cols []string
	strong, weak := 0, 0
	for f := range strings.SplitSeq(strings.TrimSpace(string(line)), sep) {
		n := normaliseColumn(f)
		switch {
		case strongColumns[n]:
			strong++
			cols = append(cols, strings.Trim(strings.TrimSpace(f), `"'`))
		case weakColumns[n]:
			weak++
			cols = append(cols, strings.Trim(strings.TrimSpace(f), `"'`))
		}
	}
	if strong >= 1 || weak >= 2 {
		return cols
	}
	return nil
}

func normaliseColumn(s string) string {
	s = strings.ToLower(strings.Trim(strings.TrimSpace(s), `"'`))
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '_', '-', '.':
			return -1
		}
		return r
	}, s)
}
