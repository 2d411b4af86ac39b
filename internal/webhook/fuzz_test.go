package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary headers and bodies to a verifier that trusts
// the published test keys. It must never panic, must return only its
// sentinel errors, and may accept a message only if the signature header
// carries, among the entries it examines, a signature that our signer
// produces for exactly that id, timestamp and body, within the tolerance.
// Any change to a signed message's id, timestamp, body or signature is
// therefore refused.
func FuzzVerify(f *testing.F) {
	ts := strconv.Itoa(vecTS)
	f.Add(vecID, ts, vecSig, []byte(vecPayload))
	f.Add(vecID, ts, vecEdSig, []byte(vecPayload))
	f.Add(vecID, ts, "v2,xx "+vecEdSig+" "+vecSig, []byte(vecPayload))
	f.Add(vecID, ts, vecSig, []byte(`{"test": 2432232315}`))
	f.Add("msg.1", ts, vecSig, []byte(vecPayload))
	f.Add(vecID, "0"+ts, vecSig, []byte(vecPayload))
	f.Add("", "", "", []byte(nil))

	pub, err := PublicKey(vecEdKey)
	if err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(vecSecret, pub)
	if err != nil {
		f.Fatal(err)
	}
	hmacSigner, err := NewSigner(vecSecret)
	if err != nil {
		f.Fatal(err)
	}
	edSigner, err := NewSigner(vecEdKey)
	if err != nil {
		f.Fatal(err)
	}
	sentinels := []error{ErrMissingHeaders, ErrBadID, ErrBadTimestamp, ErrTooOld, ErrTooNew, ErrNoMatch}

	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		// Set the map directly: it keeps even values no HTTP client could
		// send, the harder case for the parser.
		h[http.CanonicalHeaderKey(HeaderID)] = []string{id}
		h[http.CanonicalHeaderKey(HeaderTimestamp)] = []string{ts}
		h[http.CanonicalHeaderKey(HeaderSignature)] = []string{sig}

		err := v.Verify(h, body, vecTime)
		if err != nil {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("Verify returned a non-sentinel error %v", err)
		}

		sec, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil || strconv.FormatInt(sec, 10) != ts {
			t.Fatalf("accepted non-canonical timestamp %q", ts)
		}
		at := time.Unix(sec, 0)
		if d := vecTime.Sub(at); d > DefaultTolerance || d < -DefaultTolerance {
			t.Fatalf("accepted timestamp %q outside the tolerance", ts)
		}
		if !validID(id) || id == "" {
			t.Fatalf("accepted bad id %q", id)
		}
		authentic := []string{hmacSigner.Sign(id, at, body), edSigner.Sign(id, at, body)}
		fields := strings.Fields(sig)
		if len(fields) > maxSignatures {
			fields = fields[:maxSignatures]
		}
		for _, f := range fields {
			for _, a := range authentic {
				if f == a {
					return
				}
			}
		}
		t.Fatalf("accepted id=%q ts=%q sig=%q body=%q without an authentic signature", id, ts, sig, body)
	})
}
