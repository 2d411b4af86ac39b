package sqlite

import (
	_ "embed"
	"errors"
	"fmt"
	"github.com/reportit/reportit/internal/sqlfile"
)

// queriesSQL holds every statement outside the migrations, so that the SQL
// of this dialect is in files, in one place, and the PostgreSQL store can
// have its own set beside its own migrations.
//
//go:embed queries.sql
var queriesSQL string

// queries are the named statements of queries.sql.
type queries struct {
	createMigrationsTable, appliedMigrations, recordMigration string

	findIdempotency, insertIdempotency, purgeIdempotency string
	findIdempotencies                                    string
	findPrimary, insertReport, addSighting               string
	savepoint, releaseSavepoint, rollbackToSavepoint     string

	// The delivery queue and the pull API.
	savepointOp, releaseSavepointOp, rollbackToSavepointOp string
	insertDelivery, claim                                  string
	completeDone, completeRetry, completeDead              string
	completeUseForm, completeAwaitPull                     string
	reportDelivered, reportUseForm, deliveryExists         string
	ack, hotlineDeliveryExists, revive, releaseLeases      string
	eraseReports                                           string
	insertClient, revokeClient, clientExists               string
	loadReport, queueStats, deadJobs, listForHotline       string
	client, clients                                        string

	status, sightings               string
	integrityCheck, foreignKeyCheck string

	journalMode, synchronous, foreignKeys, busyTimeout, queryOnly, tempStore string
	walAutocheckpoint, cacheSize                                             string
	checkpointPassive, checkpointRestart, setBusyTimeout                     string
	checkpointTruncate                                                       string
}

var errQueries = errors.New("sqlite: bad query file")

// loadQueries parses src and fills every field of queries, failing on a
// missing or unknown name so that a typo shows at Open, not at first use.
func loadQueries(src string) (*queries, error) {
	named, err := parseQueries(src)
	if err != nil {
		return nil, err
	}
	q := new(queries)
	fields := map[string]*string{
		"createMigrationsTable": &q.createMigrationsTable,
		"appliedMigrations":     &q.appliedMigrations,
		"recordMigration":       &q.recordMigration,
		"findIdempotency":       &q.findIdempotency,
		"insertIdempotency":     &q.insertIdempotency,
		"purgeIdempotency":      &q.purgeIdempotency,
		"findIdempotencies":     &q.findIdempotencies,
		"findPrimary":           &q.findPrimary,
		"insertReport":          &q.insertReport,
		"addSighting":           &q.addSighting,
		"savepoint":             &q.savepoint,
		"releaseSavepoint":      &q.releaseSavepoint,
		"rollbackToSavepoint":   &q.rollbackToSavepoint,
		"savepointOp":           &q.savepointOp,
		"releaseSavepointOp":    &q.releaseSavepointOp,
		"rollbackToSavepointOp": &q.rollbackToSavepointOp,
		"insertDelivery":        &q.insertDelivery,
		"claim":                 &q.claim,
		"completeDone":          &q.completeDone,
		"completeRetry":         &q.completeRetry,
		"completeDead":          &q.completeDead,
		"completeUseForm":       &q.completeUseForm,
		"completeAwaitPull":     &q.completeAwaitPull,
		"reportDelivered":       &q.reportDelivered,
		"reportUseForm":         &q.reportUseForm,
		"deliveryExists":        &q.deliveryExists,
		"ack":                   &q.ack,
		"hotlineDeliveryExists": &q.hotlineDeliveryExists,
		"revive":                &q.revive,
		"releaseLeases":         &q.releaseLeases,
		"eraseReports":          &q.eraseReports,
		"insertClient":          &q.insertClient,
		"revokeClient":          &q.revokeClient,
		"clientExists":          &q.clientExists,
		"loadReport":            &q.loadReport,
		"queueStats":            &q.queueStats,
		"deadJobs":              &q.deadJobs,
		"listForHotline":        &q.listForHotline,
		"client":                &q.client,
		"clients":               &q.clients,
		"status":                &q.status,
		"sightings":             &q.sightings,
		"integrityCheck":        &q.integrityCheck,
		"foreignKeyCheck":       &q.foreignKeyCheck,
		"journalMode":           &q.journalMode,
		"synchronous":           &q.synchronous,
		"foreignKeys":           &q.foreignKeys,
		"busyTimeout":           &q.busyTimeout,
		"queryOnly":             &q.queryOnly,
		"tempStore":             &q.tempStore,
		"walAutocheckpoint":     &q.walAutocheckpoint,
		"cacheSize":             &q.cacheSize,
		"checkpointPassive":     &q.checkpointPassive,
		"checkpointRestart":     &q.checkpointRestart,
		"checkpointTruncate":    &q.checkpointTruncate,
		"setBusyTimeout":        &q.setBusyTimeout,
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
	named, err := sqlfile.ParseNamed(src, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errQueries, err)
	}
	return named, nil
}
