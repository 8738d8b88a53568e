package observe

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedactEnv(t *testing.T) {
	secrets := map[string]string{"db_password": "S3CR3TVALUE42"}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"plain values stay", []string{"PGDATA=/var/lib/postgresql/data", "TZ=UTC"}, []string{"PGDATA=/var/lib/postgresql/data", "TZ=UTC"}},
		{"secret key names", []string{"POSTGRES_PASSWORD=x", "API_TOKEN=abc", "AWS_SECRET_ACCESS_KEY=k", "SIGNING_KEY=q"},
			[]string{"POSTGRES_PASSWORD=[redacted]", "API_TOKEN=[redacted]", "AWS_SECRET_ACCESS_KEY=[redacted]", "SIGNING_KEY=[redacted]"}},
		{"file paths are not secrets", []string{"POSTGRES_PASSWORD_FILE=/run/secrets/db_password"}, []string{"POSTGRES_PASSWORD_FILE=/run/secrets/db_password"}},
		{"generated secret under an innocent key", []string{"DATABASE_URL=postgres://app:S3CR3TVALUE42@db/app"}, []string{"DATABASE_URL=[redacted]"}},
		{"empty values stay empty", []string{"PASSWORD="}, []string{"PASSWORD="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, RedactEnv(tt.in, secrets)); diff != "" {
				t.Errorf("RedactEnv (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRedactIgnoresCase: PostgreSQL lower-cases unquoted identifiers in its
// messages, so a secret used as one comes back in another case.
func TestRedactIgnoresCase(t *testing.T) {
	secrets := map[string]string{"db_password": "S3cr3tValue42", "ü": "GRÜNSCHLÜSSEL"}
	for in, want := range map[string]string{
		`ERROR:  role "s3cr3tvalue42" does not exist`:     `ERROR:  role "[redacted]" does not exist`,
		`FATAL: password S3CR3TVALUE42 and s3cr3tValue42`: `FATAL: password [redacted] and [redacted]`,
		`exact S3cr3tValue42 stays redacted`:              `exact [redacted] stays redacted`,
		`key grünschlüssel in lower case`:                 `key [redacted] in lower case`,
		`nothing secret here`:                             `nothing secret here`,
	} {
		if got := RedactText(in, secrets); got != want {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := RedactEnv([]string{"DSN=postgres://s3cr3tvalue42@db"}, secrets); got[0] != "DSN=[redacted]" {
		t.Errorf("RedactEnv: %q", got)
	}
}
