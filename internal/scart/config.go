package scart

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"
)

// ErrConfig is an unusable Config. Its messages name the field, never a
// password.
var ErrConfig = errors.New("scart: invalid config")

// TLSMode says how the connection to the mail server is protected.
type TLSMode string

const (
	// TLSStartTLS (the default) connects in plain text, requires the server
	// to offer STARTTLS and upgrades before anything else is said. A server
	// that does not offer it gets nothing: there is no plaintext fallback.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit TLSMode = "implicit"
	// TLSNone sends in plain text. Only allowed to a loopback host (a local
	// relay or a test server), and never with a password.
	TLSNone TLSMode = "none"
)

// Defaults.
const (
	DefaultTimeout = 30 * time.Second
	portSubmission = 587
	portSMTPS      = 465
	portSMTP       = 25
	// maxSubjectPrefix bounds the subject: SCARt keeps it in a database
	// column and matches it exactly.
	maxSubjectPrefix = 64
)

// Config is one hotline's SCARt mailbox and the account we send from.
type Config struct {
	// Host and Port of the hotline's (or our own) submission server. Port 0
	// takes 587 for starttls, 465 for implicit, 25 for none.
	Host string
	Port int
	// Username and Password for AUTH PLAIN, sent only over TLS. Empty
	// Username: no AUTH (a relay that accepts us by address).
	Username string
	Password string
	// From is the envelope sender and the From header. SCARt imports only
	// mail from addresses on its whitelist, and mails its import log back
	// to this address.
	From string
	// To is the SCARt import mailbox.
	To string
	// SubjectPrefix is the "Import subject" of the import webform defined
	// in SCARt (SETTINGS -> Import webforms). SCARt compares it upper-cased
	// and stores it with '_' for spaces, so it is one word here.
	SubjectPrefix string
	// SubjectReference appends " <report reference>" to the subject.
	// SCARt's webform import looks the webform up by the whole subject and
	// skips a message whose subject has anything after it, so leave this
	// off for SCARt; it is for mailboxes read by people or other tools.
	SubjectReference bool
	// TLS is the protection of the connection; "" means TLSStartTLS.
	TLS TLSMode
	// RootCAs verifies the server's certificate; nil takes the system pool.
	RootCAs *x509.CertPool
	// TLSConfig, if set, is the template for the TLS client config (it is
	// cloned; RootCAs and ServerName above take precedence when set).
	// InsecureSkipVerify is refused.
	TLSConfig *tls.Config
	// ServerName is the name the certificate must carry; default Host.
	ServerName string
	// HelloName is our name in EHLO; default the domain of From.
	HelloName string
	// Timeout bounds one delivery attempt, connection to final reply, on
	// top of the caller's context; 0 takes DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for the Date header; nil takes time.Now.
	Now func() time.Time
}

// check validates c and fills in the defaults.
func (c Config) check() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	switch c.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return bad("tls must be %q, %q or %q", TLSStartTLS, TLSImplicit, TLSNone)
	}
	if badHost := strings.ContainsAny(c.Host, " \t\r\n/:@[]"); c.Host == "" || badHost && net.ParseIP(c.Host) == nil {
		return bad("host must be a host name or IP address, without port")
	}
	if c.Port < 0 || c.Port > 65535 {
		return bad("port out of range")
	}
	if c.Port == 0 {
		c.Port = map[TLSMode]int{TLSStartTLS: portSubmission, TLSImplicit: portSMTPS, TLSNone: portSMTP}[c.TLS]
	}
	if c.TLS == TLSNone {
		if !isLoopback(c.Host) {
			return bad("tls none is only allowed to a loopback host: reports must not cross a network in plain text")
		}
		if c.Username != "" || c.Password != "" {
			return bad("a password is never sent without TLS: tls none cannot be used with a username or password")
		}
	}
	if c.Username == "" && c.Password != "" {
		return bad("password without username")
	}
	if strings.ContainsAny(c.Username, "\x00\r\n") || strings.ContainsRune(c.Password, 0) {
		return bad("username or password contains a control character")
	}
	var err error
	if c.From, err = address("from", c.From); err != nil {
		return Config{}, err
	}
	if c.To, err = address("to", c.To); err != nil {
		return Config{}, err
	}
	if err := checkSubject(c.SubjectPrefix); err != nil {
		return Config{}, err
	}
	if c.TLSConfig != nil && c.TLSConfig.InsecureSkipVerify {
		return bad("TLS certificate verification cannot be turned off; give the server's CA in RootCAs instead")
	}
	if c.ServerName == "" {
		c.ServerName = c.Host
	}
	if c.HelloName == "" {
		c.HelloName = c.From[strings.LastIndexByte(c.From, '@')+1:]
	}
	if strings.ContainsAny(c.HelloName, " \t\r\n") {
		return bad("hello name contains whitespace")
	}
	if c.Timeout < 0 {
		return bad("negative timeout")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// address accepts a bare ASCII address (a display name is dropped). Non-ASCII
// addresses would need SMTPUTF8, which this channel never asks for: every
// header it writes is ASCII and the body is quoted-printable.
func address(field, s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address == "" {
		return "", fmt.Errorf("%w: %s is not an e-mail address", ErrConfig, field)
	}
	for i := 0; i < len(a.Address); i++ {
		if c := a.Address[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return "", fmt.Errorf("%w: %s must be a plain ASCII address", ErrConfig, field)
		}
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return "", fmt.Errorf("%w: %s is not an e-mail address", ErrConfig, field)
	}
	return a.Address, nil
}

// reservedSubjects start SCARt's own import formats (ERT-INPUT,
// SCART-INPUT, SCART-CONTENTREMOVED, ...), which read the body as
// "url;referer;note" lines or act on existing reports. A webform subject
// may not be one of them (SCARt refuses to save it), and a message with one
// would not be read as YAML.
var reservedSubjects = []string{"ERT-", "SCART-", "SET_MAINTENANCE"}

func checkSubject(s string) error {
	if s == "" || len(s) > maxSubjectPrefix {
		return fmt.Errorf("%w: subject prefix must be 1 to %d characters", ErrConfig, maxSubjectPrefix)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: subject prefix must be printable ASCII without spaces (SCARt stores a space as '_')", ErrConfig)
		}
	}
	up := strings.ToUpper(s)
	for _, r := range reservedSubjects {
		if strings.HasPrefix(up, r) {
			return fmt.Errorf("%w: subject prefix %q selects one of SCARt's own import formats; use the subject of an import webform", ErrConfig, s)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsConfig is the client TLS config for c (already checked).
func (c Config) tlsConfig() *tls.Config {
	var t *tls.Config
	if c.TLSConfig != nil {
		t = c.TLSConfig.Clone()
	} else {
		t = &tls.Config{}
	}
	if c.RootCAs != nil {
		t.RootCAs = c.RootCAs
	}
	t.ServerName = c.ServerName
	if t.MinVersion < tls.VersionTLS12 {
		t.MinVersion = tls.VersionTLS12
	}
	return t
}

// Target is a SCARt mailbox as written in a routes file (JSON). Its
// Config method turns it into a Config.
type Target struct {
	Host     string `json:"host"`
	Port     int    `json:"port,omitempty"`
	Username string `json:"username,omitempty"`
	// Password may be given here or, better, in the environment variable
	// named by PasswordEnv.
	Password    string `json:"password,omitempty"`
	PasswordEnv string `json:"password_env,omitempty"`
	From        string `json:"from"`
	To          string `json:"to"`
	Subject     string `json:"subject"`
	// SubjectReference: see Config.SubjectReference.
	SubjectReference bool `json:"subject_reference,omitempty"`
	// TLS is "starttls" (default), "implicit" or "none" (loopback only).
	TLS TLSMode `json:"tls,omitempty"`
	// CAFile is a PEM file of CA certificates to verify the server with,
	// instead of the system pool.
	CAFile     string `json:"ca_file,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	HelloName  string `json:"hello_name,omitempty"`
	// Timeout is a Go duration ("30s"); empty takes DefaultTimeout.
	Timeout string `json:"timeout,omitempty"`
	// Concurrency bounds deliveries in flight to this mailbox; 0 takes the
	// dispatcher's default. Not used by this package: for the wiring.
	Concurrency int `json:"concurrency,omitempty"`
}

// Config reads the CA file and the password variable and checks the result.
// getenv is os.Getenv in production.
func (t Target) Config(getenv func(string) string) (Config, error) {
	c := Config{
		Host: t.Host, Port: t.Port, Username: t.Username, Password: t.Password,
		From: t.From, To: t.To, SubjectPrefix: t.Subject, SubjectReference: t.SubjectReference,
		TLS: t.TLS, ServerName: t.ServerName, HelloName: t.HelloName,
	}
	if t.PasswordEnv != "" {
		if t.Password != "" {
			return Config{}, fmt.Errorf("%w: both password and password_env are set", ErrConfig)
		}
		if getenv == nil {
			getenv = os.Getenv
		}
		c.Password = getenv(t.PasswordEnv)
		if c.Password == "" {
			return Config{}, fmt.Errorf("%w: password_env %s is empty or unset", ErrConfig, t.PasswordEnv)
		}
	}
	if t.Timeout != "" {
		d, err := time.ParseDuration(t.Timeout)
		if err != nil {
			return Config{}, fmt.Errorf("%w: timeout is not a duration", ErrConfig)
		}
		c.Timeout = d
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return Config{}, fmt.Errorf("%w: ca_file: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return Config{}, fmt.Errorf("%w: ca_file holds no PEM certificate", ErrConfig)
		}
		c.RootCAs = pool
	}
	return c.check()
}
