package main

import (
	"errors"
	"io"
)

// runToken will mint tokens once authentication exists; until then it says
// so instead of pretending.
func runToken(args []string, stdout, stderr io.Writer) error {
	return errors.New("token: authentication is not available in this version, so there is nothing to mint tokens for yet")
}
