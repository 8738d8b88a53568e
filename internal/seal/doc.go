// Package seal encrypts secrets that leave the site (the DR bundle, backup
// archives) with age: to a recipient's public key or to a passphrase, and
// opens them again. It is pure: bytes in, bytes out; it imports no other
// package of dockerbank.
package seal
