package enginetest

import (
	"context"
	"embed"

	"github.com/dockerbank/dockerbank/internal/bank"
)

// The entry "decide": a database and an app, versions 1.0, 2.0 and 3.0
// (images example/app:VERSION; tests mark 3.0 Unhealthy), no fingerprint.
//
//go:embed all:testdata/bank
var testBank embed.FS

// Bank opens the bank of the decision tests.
func Bank(ctx context.Context) (*bank.Bank, error) {
	return bank.Open(ctx, bank.Source{Name: "enginetest", FS: testBank, Root: "testdata/bank"})
}
