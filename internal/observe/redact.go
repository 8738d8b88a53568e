package observe

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Redacted replaces a secret value in views.
const Redacted = "[redacted]"

// secretKeyWords mark environment keys whose values are secrets.
var secretKeyWords = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE"}

// SecretKey says whether an environment key names a secret: its upper-case
// form contains PASSWORD, SECRET, TOKEN, KEY, ... (so DB_PASSWORD_FILE,
// holding only a path, is shown: values of *_FILE keys are paths).
func SecretKey(key string) bool {
	k := strings.ToUpper(key)
	if strings.HasSuffix(k, "_FILE") {
		return false
	}
	for _, w := range secretKeyWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// RedactEnv returns env (KEY=VALUE lines) with the values of secret keys
// and every value equal to (or containing) one of the instance's generated
// secrets replaced by Redacted.
func RedactEnv(env []string, secrets map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if v != "" && (SecretKey(k) || containsSecret(v, secrets)) {
			v = Redacted
		}
		out = append(out, k+"="+v)
	}
	return out
}

// RedactText replaces every occurrence of a generated secret in s, in any
// case: PostgreSQL, for one, lower-cases identifiers in its messages.
func RedactText(s string, secrets map[string]string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = replaceFold(s, v)
		}
	}
	return s
}

func containsSecret(v string, secrets map[string]string) bool {
	for _, s := range secrets {
		if len(s) >= 4 && replaceFold(v, s) != v {
			return true
		}
	}
	return false
}

// replaceFold replaces every case-insensitive occurrence of secret in s.
func replaceFold(s, secret string) string {
	if !isASCII(s) || !isASCII(secret) {
		return regexp.MustCompile("(?i)"+regexp.QuoteMeta(secret)).ReplaceAllLiteralString(s, Redacted)
	}
	// ASCII lower-casing keeps every byte offset.
	ls, lv := strings.ToLower(s), strings.ToLower(secret)
	if !strings.Contains(ls, lv) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(ls, lv)
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(Redacted)
		s, ls = s[i+len(lv):], ls[i+len(lv):]
	}
	b.WriteString(s)
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
