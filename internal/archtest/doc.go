// Package archtest holds architecture rules that `go test ./...` checks by
// reading the module's source (go/parser, no type checking):
//
//   - every call of golang-jwt/jwt/v5's Parse, ParseWithClaims and NewParser
//     passes WithValidMethods, WithExpirationRequired, WithAudience and
//     WithIssuer, inline or through a slice or helper the rule can follow;
//     parsers without options (jwt.Parser{}, new(jwt.Parser)),
//     ParseUnverified and WithoutClaimsValidation are refused outright;
//   - only internal/token imports golang-jwt, and no other JWT library is
//     imported at all, so the rule above sees every token parser;
//   - internal/report, the domain, imports no HTTP, SQL, cache or web
//     framework package, directly or through other packages of the module.
//
// The rules live in the test files; this file only names the package.
package archtest
