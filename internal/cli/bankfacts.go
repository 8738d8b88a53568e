package cli

import (
	"context"
	"fmt"

	"github.com/dockerbank/dockerbank/internal/audit"
)

// factSource opens what `bank lint` and `bank show` read images from: the
// archive when given, and the engine unless noEngine or none answers.
func (a *app) factSource(ctx context.Context, archive string, noEngine bool) (*audit.BankFacts, error) {
	var store audit.ImageStore
	if !noEngine {
		e, err := a.openEngine(ctx)
		if err == nil {
			if _, err = e.ImageExists(ctx, "dockerbank-probe/none:0"); err == nil {
				store = e
			}
		}
		if store == nil {
			fmt.Fprintf(a.streams.Err, "note: no container engine answered (%v); images are checked against their curation records only\n", err)
		}
	}
	s, err := audit.NewBankFacts(ctx, archive, store)
	if err != nil {
		return nil, usageError{fmt.Errorf("--image-archive: %w", err)}
	}
	return s, nil
}
