// Package dockerbank holds what the binary embeds from the repository: the
// default bank, the entries that ship inside dockerbank (bank/entries/).
// The entry model lives in internal/bank; the program in cmd/dockerbank.
package dockerbank

import "embed"

// Bank holds one directory per entry under BankRoot.
//
//go:embed all:bank/entries
var Bank embed.FS

// BankRoot is the directory of Bank that holds the entries.
const BankRoot = "bank/entries"
