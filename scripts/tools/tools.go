//go:build tools

// Package tools pins the Vault server that scripts/vault-dev.sh builds for the tests.
package tools

import _ "github.com/hashicorp/vault"
