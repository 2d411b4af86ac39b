package scart

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/reportit/reportit/internal/delivery"
	"github.com/reportit/reportit/internal/report"
)

type oneReport struct{ r report.Report }

func (s oneReport) Load(_ context.Context, id string) (report.Report, delivery.Sightings, error) {
	if id != s.r.ID {
		return report.Report{}, delivery.Sightings{}, report.ErrNotFound
	}
	return s.r, testSightings, nil
}

// TestThroughDispatcher: the channel as the delivery dispatcher uses it,
// as a hotline's route, to a real server.
func TestThroughDispatcher(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rcptErr error
		want    delivery.OutcomeKind
	}{
		{"accepted", nil, delivery.OutcomeDelivered},
		{"451", &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}, delivery.OutcomeRetry},
		{"550", &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}, delivery.OutcomeDead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, modeStartTLS)
			ts.rcptErr = tc.rcptErr
			r := testReport()
			routes, err := delivery.NewRoutes(delivery.RoutesConfig{
				Channels: map[string]delivery.Channel{r.HotlineID: testChannel(t, ts.port, nil)},
			})
			if err != nil {
				t.Fatal(err)
			}
			d, err := delivery.NewDispatcher(delivery.Config{Source: oneReport{r}, Routes: routes})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out := d.Deliver(ctx, delivery.Job{ReportID: r.ID, HotlineID: r.HotlineID, Attempt: 1, EnqueuedAt: time.Now()})
			if out.Kind != tc.want {
				t.Fatalf("outcome %v (%v), want %v", out.Kind, out.Err, tc.want)
			}
			if strings.Contains(out.Reason, "example.com") || strings.Contains(out.Reason, "first line") {
				t.Errorf("reason gives the report away: %q", out.Reason)
			}
			if tc.want == delivery.OutcomeDead && !strings.Contains(out.Reason, "rcpt: rejected by the mail server: SMTP 550 5.1.1") {
				t.Errorf("reason %q", out.Reason)
			}
		})
	}
}
