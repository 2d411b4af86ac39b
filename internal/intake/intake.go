// Package intake turns a reporter's submission into a durably stored report:
// it validates and canonicalises, routes to a hotline, and hands the report
// to the store. It is the one place where those rules meet; the HTTP adapter
// only decodes and encodes.
package intake

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reportit/reportit/internal/hotline"
	"github.com/reportit/reportit/internal/report"
	"github.com/reportit/reportit/internal/weburl"
)

// Service accepts reports and answers status queries.
type Service struct {
	store report.Store
	dir   *hotline.Directory
	// secret keys the receipts and the idempotency keys. It lives in the
	// data dir; losing it invalidates outstanding receipts, nothing else.
	secret []byte
	now    func() time.Time
	// macs holds keyed hashers (*keyedHash) for mac: hmac.New costs a
	// dozen allocations and two SHA-256 blocks of key schedule on every
	// call, a Reset of a used one neither.
	macs sync.Pool
}

// keyedHash is an HMAC-SHA-256 under the service secret, with scratch
// space for its input and output.
type keyedHash struct {
	h   hash.Hash
	in  []byte
	sum []byte
}

// New returns a Service. secret must be at least 32 random bytes.
func New(store report.Store, dir *hotline.Directory, secret []byte, now func() time.Time) (*Service, error) {
	if len(secret) < 32 {
		return nil, errors.New("intake: secret must be at least 32 bytes")
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, dir: dir, secret: secret, now: now}, nil
}

// Receipt is the answer to an accepted submission.
type Receipt struct {
	report.Accepted
	// Secret lets the reporter, and only the reporter, ask for the status.
	Secret  string
	Hotline *hotline.Hotline
}

// Submit validates s and stores it. installation is the token subject and
// idempotencyKey the client's Idempotency-Key; neither is stored in the
// clear, and the stored report is not linked to the installation.
func (svc *Service) Submit(ctx context.Context, installation, idempotencyKey string, s report.Submission) (Receipt, error) {
	s.Normalize()
	errs := s.Validate()
	url, uerr := canonical("url", s.URL, true)
	if uerr != nil {
		errs = append(errs, uerr)
	}
	pageURL, perr := canonical("page_url", s.PageURL, false)
	if perr != nil {
		errs = append(errs, perr)
	}
	var h *hotline.Hotline
	if len(errs) == 0 {
		var err error
		if h, err = svc.dir.Route(s.Hotline, s.Country); err != nil {
			var e *report.Error
			errors.As(err, &e)
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return Receipt{}, errs
	}

	nr := report.NewReport{
		Report: report.Report{
			ID:          newID(),
			Reference:   newReference(),
			URL:         url,
			URLKey:      weburl.Key(url),
			PageURL:     pageURL,
			ContentType: s.ContentType,
			Category:    s.Category,
			Country:     s.Country,
			HotlineID:   h.ID,
			Comment:     s.Comment,
			Contact:     s.Contact,
			Client:      s.Client,
			ReceivedAt:  svc.now().UTC(),
		},
		IdempotencyKey: svc.mac("idempotency", installation, idempotencyKey),
		Fingerprint:    fingerprint(&s),
	}
	acc, err := svc.store.Accept(ctx, nr, report.DedupWindow)
	if err != nil {
		return Receipt{}, err
	}
	if acc.HotlineID != h.ID {
		// A replay answers with what was stored, even if the directory
		// changed since.
		if h, _ = svc.dir.Get(acc.HotlineID); h == nil {
			h = &hotline.Hotline{ID: acc.HotlineID}
		}
	}
	return Receipt{Accepted: acc, Secret: svc.receipt(acc.ID), Hotline: h}, nil
}

// Status returns a report's status if receipt is the one issued for it.
// A wrong receipt and an unknown reference look the same to the caller.
func (svc *Service) Status(ctx context.Context, reference, receipt string) (report.StatusView, *hotline.Hotline, error) {
	if reference == "" || receipt == "" || len(reference) > 64 || len(receipt) > 64 {
		return report.StatusView{}, nil, report.ErrNotFound
	}
	v, err := svc.store.Status(ctx, strings.ToUpper(reference))
	if err != nil {
		return report.StatusView{}, nil, err
	}
	if subtle.ConstantTimeCompare([]byte(svc.receipt(v.ID)), []byte(receipt)) != 1 {
		return report.StatusView{}, nil, report.ErrNotFound
	}
	h, ok := svc.dir.Get(v.HotlineID)
	if !ok {
		h = &hotline.Hotline{ID: v.HotlineID}
	}
	return v, h, nil
}

// Directory returns the hotline directory the service routes with.
func (svc *Service) Directory() *hotline.Directory { return svc.dir }

func canonical(field, raw string, required bool) (string, *report.Error) {
	if strings.TrimSpace(raw) == "" {
		if required {
			return "", report.Errorf(report.CodeInvalid, field, "The address (URL) of what you are reporting is required.")
		}
		return "", nil
	}
	c, err := weburl.Canonicalize(raw)
	if err != nil {
		var e *report.Error
		if !errors.As(err, &e) {
			e = report.Errorf(report.CodeURLMalformed, field, "This is not a web address we can use.")
		}
		ce := *e
		ce.Field = field
		return "", &ce
	}
	return c, nil
}

// receipt derives the receipt secret from the report id, so that neither
// the store nor a replayed answer needs to keep it.
func (svc *Service) receipt(id string) string {
	return svc.mac("receipt", id)
}

func (svc *Service) mac(purpose string, parts ...string) string {
	k, _ := svc.macs.Get().(*keyedHash)
	if k == nil {
		k = &keyedHash{h: hmac.New(sha256.New, svc.secret)}
	} else {
		// Back to the state right after the key, which hmac keeps
		// precomputed from the first Reset on.
		k.h.Reset()
	}
	k.in = appendParts(appendParts(k.in[:0], purpose), parts...)
	k.h.Write(k.in)
	k.sum = k.h.Sum(k.sum[:0])
	out := base64.RawURLEncoding.EncodeToString(k.sum[:18])
	if cap(k.in) <= maxPooledInput {
		svc.macs.Put(k)
	}
	return out
}

// maxPooledInput keeps a hasher that had to grow for a very long input out
// of the pool, so that the pool does not pin large buffers.
const maxPooledInput = 4 << 10

// fingerprint identifies the content of a submission, so that a retry with
// the same Idempotency-Key can be told from a different report. It hashes
// the decoded fields, not the bytes: a client re-encoding the same report
// with other whitespace is retrying, not changing it.
func fingerprint(s *report.Submission) string {
	// Built on the stack when it fits (a comment of a few hundred bytes),
	// so that hashing costs no allocation.
	var stack [1024]byte
	in := appendParts(stack[:0], s.URL, s.PageURL, string(s.ContentType), string(s.Category), s.Country, s.Hotline,
		s.Comment, s.Contact, s.Client.Name, s.Client.Version)
	sum := sha256.Sum256(in)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// appendParts appends length-prefixed parts to b, so that ("ab","c") and
// ("a","bc") hash differently.
func appendParts(b []byte, parts ...string) []byte {
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// crockford is Crockford's base32 alphabet: no I, L, O or U, so a reference
// read out over the phone is not misheard.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newReference returns a human-readable reference such as
// "RIT-7KQ4-M2XD-9F3B": 60 random bits, so references cannot be guessed or
// enumerated, and collisions stay negligible at any volume we can expect.
func newReference() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	v := binary.BigEndian.Uint64(b[:])
	out := []byte("RIT-XXXX-XXXX-XXXX")
	for i := len(out) - 1; i >= 4; i-- {
		if out[i] == '-' {
			continue
		}
		out[i] = crockford[v&31]
		v >>= 5
	}
	return string(out)
}
