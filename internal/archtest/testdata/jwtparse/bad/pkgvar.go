package bad

import (
	jwtv5 "github.com/golang-jwt/jwt/v5"
)

var lenient = []jwtv5.ParserOption{jwtv5.WithValidMethods([]string{"EdDSA"}), jwtv5.WithIssuer("i"), jwtv5.WithExpirationRequired()}

var changed = []jwtv5.ParserOption{jwtv5.WithValidMethods([]string{"EdDSA"}), jwtv5.WithIssuer("i"), jwtv5.WithAudience("a"), jwtv5.WithExpirationRequired()}

func init() {
	changed = nil
}

func aliasWithoutAudience() *jwtv5.Parser {
	return jwtv5.NewParser(lenient...) // want "jwtv5.NewParser without jwtv5.WithAudience"
}

func changedPackageVar() *jwtv5.Parser {
	return jwtv5.NewParser(changed...) // want "the package-level variable changed is assigned in a function"
}
