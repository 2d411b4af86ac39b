package postgres

import (
	_ "embed"
	"errors"
	"fmt"
	"github.com/reportit/reportit/internal/sqlfile"
	"strings"
)

// queriesSQL holds every statement outside the migrations, so that the SQL
// of this dialect is in files, in one place, as in the SQLite store.
//
//go:embed queries.sql
var queriesSQL string

// queries are the named statements of queries.sql.
type queries struct {
	migrationLock, createMigrationsTable, appliedMigrations, recordMigration string

	serverSettings, batchSettings, lockKeys          string
	begin, commit, rollback                          string
	savepoint, releaseSavepoint, rollbackToSavepoint string

	findIdempotency, findPrimaries                 string
	insertReports, addSightings, insertIdempotency string
	purgeIdempotency                               string

	status, sightings, integrityCheck string

	// The delivery queue and the pull API.
	insertDeliveries, notify, listen, claim          string
	completeBatch, ack, revive                       string
	savepointOp, releaseSavepointOp                  string
	rollbackToSavepointOp                            string
	releaseLeases, eraseReports                      string
	insertClient, revokeClient, client, clients      string
	loadReport, queueStats, deadJobs, listForHotline string
}

var errQueries = errors.New("postgres: bad query file")

// loadQueries parses src and fills every field of queries, failing on a
// missing or unknown name so that a typo shows at Open, not at first use.
func loadQueries(src string) (*queries, error) {
	named, err := parseQueries(src)
	if err != nil {
		return nil, err
	}
	q := new(queries)
	fields := map[string]*string{
		"migrationLock":         &q.migrationLock,
		"createMigrationsTable": &q.createMigrationsTable,
		"appliedMigrations":     &q.appliedMigrations,
		"recordMigration":       &q.recordMigration,
		"serverSettings":        &q.serverSettings,
		"batchSettings":         &q.batchSettings,
		"lockKeys":              &q.lockKeys,
		"begin":                 &q.begin,
		"commit":                &q.commit,
		"rollback":              &q.rollback,
		"savepoint":             &q.savepoint,
		"releaseSavepoint":      &q.releaseSavepoint,
		"rollbackToSavepoint":   &q.rollbackToSavepoint,
		"findIdempotency":       &q.findIdempotency,
		"findPrimaries":         &q.findPrimaries,
		"insertReports":         &q.insertReports,
		"addSightings":          &q.addSightings,
		"insertIdempotency":     &q.insertIdempotency,
		"purgeIdempotency":      &q.purgeIdempotency,
		"status":                &q.status,
		"sightings":             &q.sightings,
		"integrityCheck":        &q.integrityCheck,
		"insertDeliveries":      &q.insertDeliveries,
		"notify":                &q.notify,
		"listen":                &q.listen,
		"claim":                 &q.claim,
		"completeBatch":         &q.completeBatch,
		"savepointOp":           &q.savepointOp,
		"releaseSavepointOp":    &q.releaseSavepointOp,
		"rollbackToSavepointOp": &q.rollbackToSavepointOp,
		"ack":                   &q.ack,
		"revive":                &q.revive,
		"releaseLeases":         &q.releaseLeases,
		"eraseReports":          &q.eraseReports,
		"insertClient":          &q.insertClient,
		"revokeClient":          &q.revokeClient,
		"client":                &q.client,
		"clients":               &q.clients,
		"loadReport":            &q.loadReport,
		"queueStats":            &q.queueStats,
		"deadJobs":              &q.deadJobs,
		"listForHotline":        &q.listForHotline,
	}
	for name, dst := range fields {
		sql, ok := named[name]
		if !ok {
			return nil, fmt.Errorf("%w: no query named %q", errQueries, name)
		}
		*dst = sql
		delete(named, name)
	}
	for name := range named {
		return nil, fmt.Errorf("%w: unknown query %q", errQueries, name)
	}
	return q, nil
}

// parseQueries splits src into named queries (see sqlfile.ParseNamed).
func parseQueries(src string) (map[string]string, error) {
	named, err := sqlfile.ParseNamed(src, func(s string) string { return strings.TrimSuffix(s, ";") })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errQueries, err)
	}
	return named, nil
}
