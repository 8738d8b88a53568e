package testenv

import "golang.org/x/crypto/bcrypt"

func bcryptHash(pass string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	return string(h), err
}
