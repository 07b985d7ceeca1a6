package capability

import (
	"crypto/sha256"
	"encoding/hex"
)

// AccountKey names the AWS account a token's credentials reach, for the
// reaper, which reaps each account and region once a pass however many
// tokens share them: "role:<arn>", or "keys:" and a hash of the access key
// id (the record keeps this, not the id).
func AccountKey(c Credentials) string {
	if c.RoleARN != "" {
		return "role:" + c.RoleARN
	}
	sum := sha256.Sum256([]byte("spotter account\x00" + c.AccessKeyID))
	return "keys:" + hex.EncodeToString(sum[:16])
}

// Account returns the account key of info's token as the last walk knew
// it (its record, or the credentials the reaper last opened), without a
// store call; false when it is not known and the credentials must be
// opened to find it.
func (r *Registry) Account(info Info) (string, bool) {
	if info.Credentials.RoleARN != "" {
		return AccountKey(Credentials{RoleARN: info.Credentials.RoleARN}), true
	}
	x := &r.index
	x.mu.Lock()
	defer x.mu.Unlock()
	e := x.records[info.ID]
	switch {
	case e == nil:
		return "", false
	case e.rec.Account != "":
		return e.rec.Account, true
	}
	return e.account, e.account != ""
}

// noteAccount records what account a token's opened credentials reach,
// for a record written before records named it.
func (r *Registry) noteAccount(rec record, c Credentials) {
	x := &r.index
	x.mu.Lock()
	defer x.mu.Unlock()
	if e := x.records[rec.ID]; e != nil && e.rec.version == rec.version {
		e.account = AccountKey(c)
	}
}
