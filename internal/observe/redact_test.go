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
