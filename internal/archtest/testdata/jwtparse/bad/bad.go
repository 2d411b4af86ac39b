// Package bad holds parser constructions the JWT rule must refuse, each
// with the finding expected on its line. It is never compiled:
// internal/archtest parses it.
package bad

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func keyFunc(*jwt.Token) (any, error) { return nil, nil }

func noOptions(tok string) {
	jwt.Parse(tok, keyFunc) // want "jwt.Parse without jwt.WithValidMethods, jwt.WithExpirationRequired, jwt.WithAudience, jwt.WithIssuer"
}

func onlyMethods(tok string) {
	jwt.ParseWithClaims(tok, &jwt.RegisteredClaims{}, keyFunc, jwt.WithValidMethods([]string{"EdDSA"})) // want "jwt.ParseWithClaims without jwt.WithExpirationRequired, jwt.WithAudience, jwt.WithIssuer"
}

func noExpiry() *jwt.Parser {
	return jwt.NewParser( // want "jwt.NewParser without jwt.WithExpirationRequired"
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer("i"),
		jwt.WithAudience("a"),
		jwt.WithLeeway(time.Second),
	)
}

func fromParameter(opts ...jwt.ParserOption) *jwt.Parser {
	return jwt.NewParser(opts...) // want "they are the parameter opts"
}

func sliceWithoutIssuer() *jwt.Parser {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience("a"), jwt.WithExpirationRequired()}
	return jwt.NewParser(opts...) // want "jwt.NewParser without jwt.WithIssuer"
}

func conditional(strict bool) *jwt.Parser {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience("a")}
	if strict {
		opts = append(opts, jwt.WithIssuer("i"), jwt.WithExpirationRequired())
	}
	return jwt.NewParser(opts...) // want "jwt.NewParser without jwt.WithExpirationRequired, jwt.WithIssuer"
}

func reassigned() *jwt.Parser {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("i"), jwt.WithAudience("a"), jwt.WithExpirationRequired()}
	opts = nil
	return jwt.NewParser(opts...) // want "opts is reassigned"
}

func reassignedInBranch(lax bool) *jwt.Parser {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("i"), jwt.WithAudience("a"), jwt.WithExpirationRequired()}
	if lax {
		opts = []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"})}
	}
	return jwt.NewParser(opts...) // want "opts is changed conditionally"
}

func appendedAfterUse() *jwt.Parser {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"})}
	p := jwt.NewParser(opts...) // want "jwt.NewParser without jwt.WithExpirationRequired, jwt.WithAudience, jwt.WithIssuer"
	opts = append(opts, jwt.WithIssuer("i"), jwt.WithAudience("a"), jwt.WithExpirationRequired())
	_ = opts
	return p
}

func byIndex() *jwt.Parser {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("i"), jwt.WithAudience("a"), jwt.WithExpirationRequired()}
	opts[3] = jwt.WithLeeway(time.Second)
	return jwt.NewParser(opts...) // want "elements of opts are assigned by index"
}

func partial(full bool) []jwt.ParserOption {
	if full {
		return []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("i"), jwt.WithAudience("a"), jwt.WithExpirationRequired()}
	}
	return []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience("a"), jwt.WithExpirationRequired()}
}

func helperOnOnePath() *jwt.Parser {
	return jwt.NewParser(partial(true)...) // want "jwt.NewParser without jwt.WithIssuer"
}

type config struct{ opts []jwt.ParserOption }

func fromField(c config) *jwt.Parser {
	return jwt.NewParser(c.opts...) // want "options come from c.opts"
}

func fromMethod(c config) *jwt.Parser {
	return jwt.NewParser(c.options()...) // want "options come from c.options(...)"
}

func (c config) options() []jwt.ParserOption { return c.opts }

func asValue() {
	parse := jwt.Parse // want "jwt.Parse used as a value"
	_ = parse
}

func withoutOptions(tok string) {
	p := &jwt.Parser{}          // want "a jwt.Parser literal is a parser without options"
	q := new(jwt.Parser)        // want "new(jwt.Parser) is a parser without options"
	var r jwt.Parser            // want "a jwt.Parser variable is a parser without options"
	p.ParseUnverified(tok, nil) // want "ParseUnverified skips the signature check"
	_, _ = q, r
}

func undone(tok string) {
	jwt.Parse(tok, keyFunc, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("i"), jwt.WithAudience("a"), jwt.WithExpirationRequired(), jwt.WithoutClaimsValidation()) // want "jwt.WithoutClaimsValidation turns off"
	_ = jwt.UnsafeAllowNoneSignatureType                                                                                                                                      // want "jwt.UnsafeAllowNoneSignatureType lets alg"
	_ = jwt.SigningMethodNone                                                                                                                                                 // want "jwt.SigningMethodNone is alg"
}

func spreadEverything(args []any) {
	jwt.ParseWithClaims(args...) // want "called with a spread argument list"
}
