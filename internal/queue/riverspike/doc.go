// Package riverspike is a throwaway measurement of riverqueue/river as the
// durable delivery queue (issue 3) against the performance targets (issue 6).
// It holds only tests; docs/queue-decision.md records the figures and the
// decision. The tests run only with REPORTIT_RIVERSPIKE=1 and without -short,
// so they never slow the normal suite. The package may be deleted once the
// delivery queue is built.
package riverspike
