package scart

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// This file runs a real SMTP server (github.com/emersion/go-smtp) on
// loopback for the tests: STARTTLS with a certificate made at test time,
// AUTH PLAIN required before MAIL.

const (
	testUser = "reportit"
	testPass = "s3cret pass"
	testFrom = "reports@reportit.example"
	testTo   = "import@scart.hotline.example"
)

// testPKI is a CA and a server certificate for 127.0.0.1 signed by it.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func getPKI(t testing.TB) testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		now := time.Now()
		caTmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "scart test CA"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2),
			Subject:      pkix.Name{CommonName: "127.0.0.1"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:     []string{"localhost"},
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		pki.pool = x509.NewCertPool()
		pki.pool.AddCert(ca)
		pki.server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return pki
}

// received is one message the server accepted.
type received struct {
	from, to string
	data     []byte
	tls      bool
	user     string
}

// serverMode selects how the test server protects connections.
type serverMode int

const (
	modeStartTLS  serverMode = iota // STARTTLS offered, AUTH only after it
	modeNoTLS                       // no STARTTLS; AUTH offered in plain text
	modeImplicit                    // TLS from the first byte
	modePlainOpen                   // no TLS, no AUTH: a local relay
)

// testServer is a go-smtp server with hooks to fail on purpose.
type testServer struct {
	addr string
	port int

	mu       sync.Mutex
	msgs     []received
	commands []string // AUTH, MAIL, RCPT, DATA as the server saw them

	// Set before use; read by sessions.
	mailErr, rcptErr, dataErr error
	dropOnData                bool
	requireAuth               bool
}

func startServer(t *testing.T, mode serverMode) *testServer {
	t.Helper()
	ts := &testServer{requireAuth: mode != modePlainOpen}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{srv: ts, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{getPKI(t).server}, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case modeStartTLS:
		s.TLSConfig = tlsCfg
	case modeNoTLS:
		s.AllowInsecureAuth = true
	case modeImplicit:
		l = tls.NewListener(l, tlsCfg)
	case modePlainOpen:
	}
	ts.addr = l.Addr().String()
	ts.port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	// The listener is closed here too: Close may run before Serve has
	// registered it.
	t.Cleanup(func() { l.Close(); s.Close(); <-done })
	return ts
}

func (ts *testServer) record(cmd string) {
	ts.mu.Lock()
	ts.commands = append(ts.commands, cmd)
	ts.mu.Unlock()
}

func (ts *testServer) received() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.msgs...)
}

func (ts *testServer) saw() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.commands...)
}

type testSession struct {
	srv      *testServer
	conn     *smtp.Conn
	user     string
	from, to string
}

func (s *testSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	s.srv.record("AUTH")
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != testUser || password != testPass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	s.srv.record("MAIL")
	if s.srv.requireAuth && s.user == "" {
		return smtp.ErrAuthRequired
	}
	if s.srv.mailErr != nil {
		return s.srv.mailErr
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.srv.record("RCPT")
	if s.srv.rcptErr != nil {
		return s.srv.rcptErr
	}
	s.to = to
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	s.srv.record("DATA")
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.srv.dropOnData {
		// The whole message arrived, and the connection goes before the
		// verdict: the client cannot know whether it was delivered.
		s.conn.Conn().Close()
		return errors.New("dropped")
	}
	if s.srv.dataErr != nil {
		return s.srv.dataErr
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, received{from: s.from, to: s.to, data: b, tls: isTLS, user: s.user})
	s.srv.mu.Unlock()
	return nil
}

func (s *testSession) Reset()        {}
func (s *testSession) Logout() error { return nil }

// rawListener accepts connections and hands each to handle: for servers
// that hang or hang up, which no SMTP library does on purpose.
func rawListener(t *testing.T, handle func(net.Conn)) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); handle(c) }()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().(*net.TCPAddr).Port
}
