// Package audit judges a container image as a black box: it streams every
// layer of the image once, without extracting it, and reports provenance,
// currency (end-of-life OS and database releases), hardening, user data and
// secrets baked into any layer (also files that a later layer deleted), and
// licence limits (products that may not be redistributed). ReadFacts and
// ReadSaveFacts use the same layer reader to collect what `bank lint`
// checks entries against: the user, PATH and VOLUMEs of an image and the
// owner, mode and #! line of its directories, programs and links.
//
// The package reads images from a `docker save` tarball, from an engine
// through the ImageSaver interface it declares (internal/engine implements
// it), or from a registry through go-containerregistry. It renders reports
// as text, JSON and SARIF 2.1.0, applies suppressions, maps reports to exit
// codes and decides whether an image may be pushed (PushVerdict).
//
// BankFacts turns those facts into bank's (bank.FactSource), the one
// reason it imports internal/bank.
//
// Severities, the SARIF model and writer, and when a suppression expires
// are shared with internal/lint through internal/finding.
//
// It must not import internal/engine, internal/cli, the Docker SDK
// (github.com/moby/moby/client) or go-containerregistry's daemon package.
// It never prints: callers render the Report.
package audit
