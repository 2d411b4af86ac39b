// This module keeps the Go tool out of the extension: node_modules can hold
// Go files of npm packages, which must not become part of ./... in the
// root module.
module github.com/reportit/reportit/extension

go 1.26
