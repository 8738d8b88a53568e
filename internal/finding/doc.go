// Package finding is what the compose linter (internal/lint) and the image
// auditor (internal/audit) share: the severity scale of a finding, its
// SARIF 2.1.0 level and score, the SARIF log model with its one writer,
// and the core of a suppression (rule, mandatory reason, optional expiry).
//
// Each tool keeps its own finding location (a compose file position and
// service; an image layer and path) and its own suppression match keys.
// It imports only the standard library; it must not import lint or audit.
package finding
