package observe

import (
	"strings"
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

// RedactText replaces every occurrence of a generated secret in s.
func RedactText(s string, secrets map[string]string) string {
	for _, v := range secrets {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

func containsSecret(v string, secrets map[string]string) bool {
	for _, s := range secrets {
		if len(s) >= 4 && strings.Contains(v, s) {
			return true
		}
	}
	return false
}
