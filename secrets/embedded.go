package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/spotter-dev/spotter/apperr"
)

// Embedded is the single-node store: one bbolt file in the data directory,
// secret parts sealed with AES-256-GCM under keys derived per scope from a
// master key. It gives the same check-and-set semantics as Vault, but only
// within one process: bbolt locks the file, so a second replica cannot share
// it.
type Embedded struct {
	db     *bolt.DB
	master []byte
	log    *slog.Logger
	// closed stops Seal and Open after Close, which zeroes master: without
	// it they would quietly seal under an all-zero key.
	closed atomic.Bool
}

// Embedded file layout.
const (
	embeddedFile  = "spotter.db"
	masterKeyFile = "master.key"
)

var (
	bucketRecords = []byte("records")
	bucketKeyring = []byte("keyring")
	bucketMeta    = []byte("meta")
	metaKeyCheck  = []byte("master-key-check")
)

// storedRecord is a record as it sits in the file. Sealed holds only Seal's
// output, so the plaintext of a secret never reaches the file.
type storedRecord struct {
	Version int    `json:"v"`
	Public  []byte `json:"p,omitempty"`
	Sealed  []byte `json:"s,omitempty"`
}

// OpenEmbedded opens (or creates) the store in dir. masterKey is the value of
// SPOTTER_MASTER_KEY as given (32 bytes, in base64 or hex, or raw); nil or
// empty means: use dir/master.key, creating it with mode 0600 on first run.
func OpenEmbedded(dir string, masterKey []byte, logger *slog.Logger) (*Embedded, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	var (
		master []byte
		source string
		err    error
	)
	if len(masterKey) > 0 {
		master, err = ParseMasterKey(masterKey)
		source = "SPOTTER_MASTER_KEY"
	} else {
		master, err = loadOrCreateKeyFile(filepath.Join(dir, masterKeyFile), logger)
		source = filepath.Join(dir, masterKeyFile)
	}
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, embeddedFile)
	// The lock timeout turns "another spotter already has this file" into an
	// error instead of a process that waits forever.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open embedded store %s (is another spotter using this data dir?): %w", path, err)
	}
	e := &Embedded{db: db, master: master, log: logger}
	if err := e.init(); err != nil {
		db.Close()
		return nil, err
	}
	logger.Info("opened embedded secrets store; it is for a single node only (use Vault for replicas)",
		"path", path, "master_key", source)
	return e, nil
}

// init creates the buckets and checks the master key against a value sealed
// when the file was created, so a wrong key fails at start, not at the first
// token lookup.
func (e *Embedded) init() error {
	return e.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketKeyring, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		check := meta.Get(metaKeyCheck)
		if check == nil {
			sealed, err := e.seal("spotter:master-key-check", metaKeyCheck)
			if err != nil {
				return err
			}
			return meta.Put(metaKeyCheck, sealed)
		}
		if _, err := e.open("spotter:master-key-check", check); err != nil {
			return apperr.New(apperr.Internal, "the master key does not match the one this store was created with")
		}
		return nil
	})
}

// Get implements Store.
func (e *Embedded) Get(ctx context.Context, key string) (Record, error) {
	if err := e.begin(ctx, key); err != nil {
		return Record{}, err
	}
	var rec Record
	err := e.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketRecords).Get([]byte(key))
		if raw == nil {
			return apperr.New(apperr.NotFound, "no record at %s", key)
		}
		var s storedRecord
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("decode record %s: %w", key, err)
		}
		rec = Record{Public: s.Public, Sealed: s.Sealed, Version: s.Version}
		return nil
	})
	return rec, err
}

// Put implements Store. The version check and the write share one bbolt
// write transaction, which bbolt serialises, so concurrent Puts with the same
// cas see exactly one winner.
func (e *Embedded) Put(ctx context.Context, key string, rec Record, cas int) (int, error) {
	if err := e.begin(ctx, key); err != nil {
		return 0, err
	}
	if err := validCAS(cas); err != nil {
		return 0, err
	}
	var version int
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecords)
		current := 0
		if raw := b.Get([]byte(key)); raw != nil {
			var s storedRecord
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("decode record %s: %w", key, err)
			}
			current = s.Version
		}
		if cas != AnyVersion && cas != current {
			return apperr.New(apperr.Conflict, "record %s is at version %d, not %d", key, current, cas)
		}
		version = current + 1
		raw, err := json.Marshal(storedRecord{Version: version, Public: rec.Public, Sealed: rec.Sealed})
		if err != nil {
			return err
		}
		return b.Put([]byte(key), raw)
	})
	if err != nil {
		return 0, err
	}
	return version, nil
}

// Delete implements Store. Like Vault's metadata delete it forgets the
// version too: a record created again starts at version 1.
func (e *Embedded) Delete(ctx context.Context, key string) error {
	if err := e.begin(ctx, key); err != nil {
		return err
	}
	return e.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRecords).Delete([]byte(key))
	})
}

// List implements Store: the full keys of records directly under prefix,
// sorted; deeper records are not listed (as with a Vault LIST, minus its
// "sub/" folder entries).
func (e *Embedded) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	dir, err := folder(prefix)
	if err != nil {
		return nil, err
	}
	keys := []string{}
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		p := []byte(dir)
		for k, _ := c.Seek(p); k != nil && strings.HasPrefix(string(k), dir); k, _ = c.Next() {
			if rest := string(k[len(p):]); !strings.Contains(rest, "/") {
				keys = append(keys, string(k))
			}
		}
		return nil
	})
	sort.Strings(keys) // bbolt iterates in byte order already; keep the contract explicit.
	return keys, err
}

// Folders implements Store. It seeks from one sub-folder past the end of
// the previous ("a/b/" → "a/b0", '0' being the byte after '/'), so it costs
// one seek per folder, not one step per record inside them.
func (e *Embedded) Folders(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	dir, err := folder(prefix)
	if err != nil {
		return nil, err
	}
	out := []string{}
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, _ := c.Seek([]byte(dir)); k != nil && strings.HasPrefix(string(k), dir); {
			rest := string(k[len(dir):])
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				k, _ = c.Next()
				continue
			}
			sub := dir + rest[:i+1]
			out = append(out, sub)
			k, _ = c.Seek([]byte(sub[:len(sub)-1] + "0"))
		}
		return nil
	})
	return out, err
}

// ListAfter implements KeyPager with a bbolt cursor seek, so a page costs
// the same however many records the folder holds.
func (e *Embedded) ListAfter(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	dir, err := folder(prefix)
	if err != nil {
		return nil, err
	}
	start := dir
	if after > start {
		start = after
	}
	keys := []string{}
	err = e.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, _ := c.Seek([]byte(start)); k != nil && len(keys) < limit && strings.HasPrefix(string(k), dir); k, _ = c.Next() {
			if key := string(k); key != after && !strings.Contains(key[len(dir):], "/") {
				keys = append(keys, key)
			}
		}
		return nil
	})
	return keys, err
}

// Ping implements Store.
func (e *Embedded) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	return e.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRecords) == nil {
			return apperr.New(apperr.Unavailable, "embedded store: records bucket missing")
		}
		return nil
	})
}

// Close implements Store.
func (e *Embedded) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	err := e.db.Close()
	clear(e.master)
	return err
}

// begin checks what every keyed call checks: a live context and a valid key.
func (e *Embedded) begin(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return apperr.Wrap(err, apperr.Unavailable, "embedded store: %v", err)
	}
	return validKey(key)
}
