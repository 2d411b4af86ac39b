// Package hotlineclient creates and checks the client credentials a
// hotline's system uses to pull its reports.
package hotlineclient

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/reportit/reportit/internal/report"
)

// ErrInvalid is any failed authentication: unknown client, wrong secret or
// revoked client look the same to the caller.
var ErrInvalid = errors.New("hotlineclient: invalid client credentials")

// Store is what the service needs of the pull store.
type Store interface {
	CreateClient(ctx context.Context, c report.HotlineClient) error
	Client(ctx context.Context, id string) (report.HotlineClient, error)
}

// New creates a client for hotlineID and returns it with its secret, which
// is shown once and stored only as a hash.
func New(ctx context.Context, s Store, hotlineID, name string, now time.Time) (report.HotlineClient, string, error) {
	id := "hc_" + random(12)
	secret := "hcs_" + random(32)
	c := report.HotlineClient{ID: id, HotlineID: hotlineID, Name: name, SecretHash: hash(secret), CreatedAt: now.UTC()}
	if err := s.CreateClient(ctx, c); err != nil {
		return report.HotlineClient{}, "", err
	}
	return c, secret, nil
}

// Authenticate checks a client's credentials and returns the client.
func Authenticate(ctx context.Context, s Store, id, secret string) (report.HotlineClient, error) {
	if id == "" || secret == "" || len(id) > 64 || len(secret) > 128 {
		return report.HotlineClient{}, ErrInvalid
	}
	c, err := s.Client(ctx, id)
	if errors.Is(err, report.ErrNotFound) {
		// Hash anyway, so an unknown id takes as long as a wrong secret.
		subtle.ConstantTimeCompare([]byte(hash(secret)), []byte(hash("")))
		return report.HotlineClient{}, ErrInvalid
	}
	if err != nil {
		return report.HotlineClient{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hash(secret)), []byte(c.SecretHash)) != 1 || !c.RevokedAt.IsZero() {
		return report.HotlineClient{}, ErrInvalid
	}
	return c, nil
}

// hash is SHA-256: client secrets are 256 random bits, so a slow password
// hash would add nothing but latency.
func hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func random(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
