// Package good holds parser constructions the JWT rule must accept. It is
// never compiled: internal/archtest parses it.
package good

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func keyFunc(*jwt.Token) (any, error) { return nil, nil }

// As internal/token does it: every option inline.
func inline(iss, aud string) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithIssuer(iss),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
}

func parseInline(tok string) (*jwt.Token, error) {
	return jwt.Parse(tok, keyFunc, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("i"), jwt.WithAudience("a"), jwt.WithExpirationRequired())
}

// A method of a parser made with the options is fine.
func method(tok string) error {
	_, err := inline("i", "a").ParseWithClaims(tok, &jwt.RegisteredClaims{}, keyFunc)
	return err
}

func slice(tok string) error {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("i"), jwt.WithAudience("a"), jwt.WithExpirationRequired()}
	_, err := jwt.ParseWithClaims(tok, &jwt.RegisteredClaims{}, keyFunc, opts...)
	return err
}

func appended(strict bool) *jwt.Parser {
	var opts []jwt.ParserOption
	opts = append(opts, jwt.WithValidMethods([]string{"EdDSA"}))
	opts = append(opts, jwt.WithIssuer("i"), jwt.WithAudience("a"))
	opts = append(opts, []jwt.ParserOption{jwt.WithExpirationRequired()}...)
	if strict {
		// Extra options in a branch take nothing away.
		opts = append(opts, jwt.WithStrictDecoding())
	}
	return jwt.NewParser(opts...)
}

func optionVariables() *jwt.Parser {
	methods := jwt.WithValidMethods([]string{"EdDSA"})
	var exp = jwt.WithExpirationRequired()
	return jwt.NewParser(methods, exp, jwt.WithIssuer("i"), jwt.WithAudience("a"))
}

func parserOptions(iss, aud string) []jwt.ParserOption {
	if iss == "" {
		return []jwt.ParserOption{jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("reportit"), jwt.WithAudience(aud), jwt.WithExpirationRequired()}
	}
	return append(defaultOptions[:0:0], jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(iss), jwt.WithAudience(aud), jwt.WithExpirationRequired())
}

func viaHelper() *jwt.Parser { return jwt.NewParser(parserOptions("i", "a")...) }

// defaultOptions is declared in vars.go.
func viaPackageVar() *jwt.Parser { return jwt.NewParser(defaultOptions...) }

func viaPackageVarAppended() *jwt.Parser {
	return jwt.NewParser(append(defaultOptions, jwt.WithLeeway(time.Second))...)
}

func shadowed() {
	// Not the package: a local value named jwt.
	jwt := struct{ Parse func() }{}
	jwt.Parse()
}
