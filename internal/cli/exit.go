package cli

import (
	"errors"

	"github.com/dockerbank/dockerbank/internal/backup"
	"github.com/dockerbank/dockerbank/internal/bank"
	"github.com/dockerbank/dockerbank/internal/deploy"
	"github.com/dockerbank/dockerbank/internal/dr"
	"github.com/dockerbank/dockerbank/internal/engine"
	"github.com/dockerbank/dockerbank/internal/freeze"
	"github.com/dockerbank/dockerbank/internal/kube"
	"github.com/dockerbank/dockerbank/internal/observe"
	"github.com/dockerbank/dockerbank/internal/site"
	"github.com/dockerbank/dockerbank/internal/stack"
)

// Exit codes, documented in --help. They are mapped from errors in one place:
// exitCode.
const (
	ExitOK          = 0
	ExitError       = 1 // the operation failed
	ExitInvalid     = 2 // input could not be analysed (invalid entry, broken YAML)
	ExitUsage       = 3 // wrong command line
	ExitUnreachable = 4 // no container engine answered
	ExitNotFound    = 5 // no such instance, entry or version
	ExitRefused     = 6 // refused to protect data or state: name taken, no fresh backup, not confirmed, locked
	ExitRolledBack  = 7 // an upgrade failed and the previous version runs again
)

const exitCodesHelp = `Exit codes:
  0  success
  1  the operation failed
  2  input could not be analysed (invalid entry or compose file, unusable --source file)
  3  wrong usage (also: deploy --use naming an instance that is no fitting shared server)
  4  no container engine answered (check DOCKER_HOST, --host, --context)
  5  no such instance, entry, version or service (or the service is not running)
  6  refused to protect data: name taken, no fresh backup, not confirmed, site locked,
     scale of a service not marked scalable or on a single-writer volume,
     rm of a shared server other instances use;
     export: compose keys without a faithful form (see --allow-lossy);
     swarm deploy: what a swarm stack cannot run (privileged, host devices, ...);
     freeze: data or secrets in the container's writable layer (see --allow-data),
     or the archive file exists (see --force)
  7  an upgrade failed and the previous version runs again`

type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// silentError carries an exit code for output that was already printed.
type silentError struct{ code int }

func (s *silentError) Error() string { return "" }

func exitCode(err error) int {
	var u usageError
	var silent *silentError
	var probs bank.Problems
	switch {
	case errors.As(err, &silent):
		return silent.code
	case errors.As(err, &u):
		return ExitUsage
	case errors.Is(err, engine.ErrUnreachable):
		return ExitUnreachable
	case errors.As(err, &probs), errors.Is(err, deploy.ErrBadSource), errors.Is(err, dr.ErrNewerFormat), errors.Is(err, dr.ErrBadBundle):
		return ExitInvalid
	case errors.Is(err, deploy.ErrNotBuildLocally), errors.Is(err, site.ErrInvalidName), errors.Is(err, deploy.ErrBadUse):
		return ExitUsage
	case errors.Is(err, site.ErrNoInstance), errors.Is(err, bank.ErrNoEntry), errors.Is(err, bank.ErrNoVersion),
		errors.Is(err, backup.ErrNoGroup), errors.Is(err, observe.ErrNoService), errors.Is(err, observe.ErrNotRunning),
		errors.Is(err, dr.ErrNoBackup), errors.Is(err, deploy.ErrNoService):
		return ExitNotFound
	case errors.Is(err, deploy.ErrNameTaken), errors.Is(err, deploy.ErrNoFreshBackup), errors.Is(err, deploy.ErrInUse),
		errors.Is(err, deploy.ErrNotConfirmed), errors.Is(err, site.ErrLocked), errors.Is(err, kube.ErrLossy),
		errors.Is(err, backup.ErrUnsafeArchive), errors.Is(err, backup.ErrRetentionRefused),
		errors.Is(err, dr.ErrWrongKey), errors.Is(err, dr.ErrNoKey), errors.Is(err, dr.ErrNotEmpty), errors.Is(err, dr.ErrNoBackupKey),
		errors.Is(err, dr.ErrNeedsSource), errors.Is(err, errPushRefused), errors.Is(err, stack.ErrRefused),
		errors.Is(err, freeze.ErrRefused), errors.Is(err, freeze.ErrFileExists), errors.Is(err, deploy.ErrNotScalable):
		return ExitRefused
	case errors.Is(err, deploy.ErrRolledBack):
		return ExitRolledBack
	}
	return ExitError
}
