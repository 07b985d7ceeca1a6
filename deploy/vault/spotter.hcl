# spotter.hcl — the Vault policy for spotter's own token: exactly the paths
# `spotter serve` calls, with the default names (KV v2 mount "spotter",
# transit mount "transit", keys "spotter-credentials" and "spotter-tokens").
# With other names (--vault-mount, …) change the first path segment and the
# key names; internal/vaulttest renders this file that way for the tests.
#
# Not granted, on purpose: sys/* (the mounts and the two transit keys are
# created once by an operator with a privileged token: see the README's
# "Deployment" section), key creation, export, config or deletion, reading
# key metadata on the KV mount, and every other mount. /v1/sys/health, which
# /readyz asks, and auth/approle/login need no policy.
#
# Tested by secrets/vault_policy_test.go: the store works with a token that
# has only this policy, each capability below is needed by some spotter
# call, and paths outside it are denied.

# Records (tokens, TOTP replay markers, nonces, reservations), written with
# check-and-set: create for a new key (cas=0), update for the next version.
path "spotter/data/*" {
  capabilities = ["create", "read", "update"]
}

# Listing keys (token list, reaper, nonce sweep) and deleting a record with
# all its versions (revocation clean-up, expired nonces and reservations).
path "spotter/metadata/*" {
  capabilities = ["list", "delete"]
}

# The derived key that seals each token's AWS credentials: read to check its
# type at start, encrypt and decrypt with the token id as context.
path "transit/keys/spotter-credentials" {
  capabilities = ["read"]
}

path "transit/encrypt/spotter-credentials" {
  capabilities = ["update"]
}

path "transit/decrypt/spotter-credentials" {
  capabilities = ["update"]
}

# The ed25519 key that signs capability tokens: read for its public keys,
# sign, and rotate (`spotter keys rotate`, POST /v1/keys/rotate).
path "transit/keys/spotter-tokens" {
  capabilities = ["read"]
}

path "transit/sign/spotter-tokens" {
  capabilities = ["update"]
}

path "transit/keys/spotter-tokens/rotate" {
  capabilities = ["update"]
}

# The token's own lifetime: lookup at start (accessor, TTL), renewal after.
# Vault's default policy grants these too; they are here so a token or an
# AppRole made with no_default_policy still renews.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}
