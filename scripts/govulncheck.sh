#!/usr/bin/env bash
# govulncheck with no network but the Go module proxy: the vulnerability
# database is built locally from the golang.org/x/vulndb module (its
# data/osv holds every Go vulnerability as OSV JSON), in the layout
# govulncheck reads with -db file://.
#
#   scripts/govulncheck.sh                 scan ./... (the module and the Go
#                                          toolchain's standard library)
#   scripts/govulncheck.sh -show verbose ./...   any govulncheck arguments
#
# Settings (environment):
#   VULN_VERSION    golang.org/x/vuln, the govulncheck version (default v1.9.0)
#   VULNDB_VERSION  golang.org/x/vulndb module version, i.e. the database
#                   snapshot (default below; a pseudo-version: `go list -m
#                   golang.org/x/vulndb@latest` names the newest)
#   VULNDB_DIR      where the built database is kept (default: under
#                   $(go env GOCACHE), one directory per VULNDB_VERSION)
#
# Exit status: 0 when nothing affects the code; non-zero when a
# vulnerability is reachable (govulncheck exits 3; `go run` passes that on
# as 1) or when anything fails.
set -euo pipefail

cd "$(dirname "$0")/.."
vuln=${VULN_VERSION:-v1.9.0}
vulndb=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
db=${VULNDB_DIR:-$(go env GOCACHE)/reportit-vulndb/$vulndb}

if [ ! -s "$db/index/db.json" ] || [ ! -s "$db/index/modules.json" ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	echo "building the vulnerability database from golang.org/x/vulndb@$vulndb into $db" >&2
	# From an empty directory, so that neither command reads or changes this
	# module's go.mod and go.sum.
	src=$(cd "$work" && go mod download -json "golang.org/x/vulndb@$vulndb" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
		echo "golang.org/x/vulndb@$vulndb has no data/osv (module directory: '${src}')" >&2
		exit 1
	fi
	# x/vulndb's cmd/indexdb loads a directory of OSV files and writes the v1
	# database: index/db.json (last modified), index/modules.json (module ->
	# vulnerability ids and fixed versions), index/vulns.json and ID/<id>.json
	# (with .gz copies, which a file:// source does not need).
	(cd "$work" && go run "golang.org/x/vulndb/cmd/indexdb@$vulndb" -vulns "$src/data/osv" -out "$work/db")
	mkdir -p "$(dirname "$db")"
	tmp=$(mktemp -d "$db.XXXXXX")
	cp -R "$work/db/." "$tmp/"
	rm -rf "$db"
	mv "$tmp" "$db"
	rm -rf "$work" # before exec, which skips the trap
	trap - EXIT
fi

# index/db.json says "modified 0001-01-01": the module's OSV files carry no
# modification times (the published database takes them from git history).
# The module version is what names the snapshot.
echo "govulncheck $vuln, $(go env GOVERSION), database golang.org/x/vulndb@$vulndb" >&2
if [ $# -eq 0 ]; then
	set -- ./...
fi
exec go run "golang.org/x/vuln/cmd/govulncheck@$vuln" -db "file://$db" "$@"
