package good

import "github.com/golang-jwt/jwt/v5"

var defaultOptions = []jwt.ParserOption{
	jwt.WithValidMethods([]string{"EdDSA"}),
	jwt.WithIssuer("reportit"),
	jwt.WithAudience("reportit-api"),
	jwt.WithExpirationRequired(),
}
