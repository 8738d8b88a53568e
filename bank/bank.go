// Package bank holds the embedded default bank: the entries that ship inside
// the dockerbank binary. The entry model lives in internal/bank.
package bank

import "embed"

// FS holds one directory per entry under entries/.
//
//go:embed all:entries
var FS embed.FS

// Root is the directory of FS that holds the entries.
const Root = "entries"
