package procfs

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStatus(t *testing.T) {
	const ok = "Name:\treportit\nVmPeak:\t 1000 kB\nVmHWM:\t   53248 kB\nVmRSS:\t   40960 kB\nThreads:\t8\n"
	for _, tc := range []struct {
		name    string
		in      string
		want    Memory
		wantErr bool
	}{
		{"normal", ok, Memory{Peak: 53248 << 10, Current: 40960 << 10}, false},
		{"missing", "Name:\tx\nVmRSS:\t 1 kB\n", Memory{}, true},
		{"unit", "VmHWM:\t1 MB\nVmRSS:\t1 kB\n", Memory{}, true},
		{"number", "VmHWM:\tx kB\nVmRSS:\t1 kB\n", Memory{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	// A name with spaces and a parenthesis; utime 150, stime 50 ticks.
	const line = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 8 0 100 1000 10\n"
	got, err := parseStat([]byte(line))
	if err != nil || got != 2*time.Second {
		t.Errorf("got %v, %v; want 2s", got, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 7 8 9 u s 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) accepted it", bad)
		}
	}
}

func TestParseMachine(t *testing.T) {
	const stat = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n"
	got, err := parseMachine([]byte(stat))
	want := Machine{Busy: ticks(150), Total: ticks(1000)}
	if err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if _, err := parseMachine([]byte("intr 1 2 3\n")); err == nil {
		t.Error("accepted a stat without a cpu line")
	}
}

func TestParsePressure(t *testing.T) {
	const in = "some avg10=12.67 avg60=8.48 avg300=4.96 total=93357174\nfull avg10=4.99 avg60=3.08 avg300=2.06 total=41834289\n"
	got, err := parsePressure([]byte(in))
	if want := "avg10 12.67%, avg60 8.48%, avg300 4.96%"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"", "full avg10=1 avg60=1 avg300=1 total=1\n", "some x=1 avg60=1 avg300=1\n"} {
		if _, err := parsePressure([]byte(bad)); err == nil {
			t.Errorf("parsePressure(%q) accepted it", bad)
		}
	}
}

// TestLive reads this process's own entries, where there are any.
func TestLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	m, err := ReadMemory(os.Getpid())
	if err != nil || m.Peak == 0 || m.Current == 0 || m.Peak < m.Current {
		t.Errorf("ReadMemory: %+v, %v", m, err)
	}
	if _, err := ReadCPU(os.Getpid()); err != nil {
		t.Errorf("ReadCPU: %v", err)
	}
	if mc, err := ReadMachine(); err != nil || mc.Total <= 0 || mc.Busy > mc.Total {
		t.Errorf("ReadMachine: %+v, %v", mc, err)
	}
	if la, err := LoadAverage(); err != nil || la == "" {
		t.Errorf("LoadAverage: %q, %v", la, err)
	}
}
