// Package procfs reads what the benchmark needs from Linux's /proc: a
// process's peak and current resident memory, its CPU time, the machine's
// CPU time (to see how busy other people's work kept it) and load average.
// On other systems every reader returns an error and the benchmark prints
// "n/a" for these columns.
package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc: USER_HZ, 100 on every
// Linux architecture Go supports (the kernel fixes it for user space).
const userHZ = 100

// Memory is a process's resident set, in bytes.
type Memory struct {
	Peak    uint64 // VmHWM: the high-water mark since start or the last ResetPeak
	Current uint64 // VmRSS
}

// ReadMemory returns pid's resident memory.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Memory, error) {
	var m Memory
	var found int
	for line := range bytes.Lines(b) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(name) {
		case "VmHWM":
			dst = &m.Peak
		case "VmRSS":
			dst = &m.Current
		default:
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return Memory{}, fmt.Errorf("procfs: unexpected %s line %q", name, line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("procfs: %s: %w", name, err)
		}
		*dst = kb << 10
		found++
	}
	if found != 2 {
		return Memory{}, errors.New("procfs: no VmHWM or VmRSS in status")
	}
	return m, nil
}

// ResetPeak sets pid's VmHWM back to its current RSS, so that the peak of
// the next scenario is its own and not the process's lifetime peak.
func ResetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// ReadCPU returns the user+system CPU time pid has used, all threads.
func ReadCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

func parseStat(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses itself; fields are counted after its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("procfs: malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ... utime(14) stime(15), so indexes 11, 12.
	if len(f) < 13 {
		return 0, errors.New("procfs: short stat")
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("procfs: stat times: %w", err)
	}
	return ticks(u + s), nil
}

// Machine is the machine's CPU time since boot, summed over all CPUs.
type Machine struct {
	Busy, Total time.Duration
}

// ReadMachine returns the machine's CPU time.
func ReadMachine() (Machine, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	return parseMachine(b)
}

func parseMachine(b []byte) (Machine, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	// cpu user nice system idle iowait irq softirq steal [guest guest_nice]
	if len(f) < 9 || f[0] != "cpu" {
		return Machine{}, errors.New("procfs: no cpu line in /proc/stat")
	}
	var total, idle uint64
	for i, s := range f[1:9] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Machine{}, fmt.Errorf("procfs: /proc/stat: %w", err)
		}
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	// guest time is already counted in user, so it is not added.
	return Machine{Busy: ticks(total - idle), Total: ticks(total)}, nil
}

// LoadAverage returns the 1, 5 and 15 minute load averages as
// /proc/loadavg writes them.
func LoadAverage() (string, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "", errors.New("procfs: malformed loadavg")
	}
	return strings.Join(f[:3], " "), nil
}

func ticks(n uint64) time.Duration { return time.Duration(n) * time.Second / userHZ }

// Pressure returns the "some" line of /proc/pressure/<resource> (cpu, io
// or memory): the share of time some task waited for that resource over
// the last 10, 60 and 300 seconds. It shows how contended the machine was,
// including the disk, which load averages mix with CPU.
func Pressure(resource string) (string, error) {
	b, err := os.ReadFile("/proc/pressure/" + resource)
	if err != nil {
		return "", err
	}
	return parsePressure(b)
}

func parsePressure(b []byte) (string, error) {
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) < 4 || f[0] != "some" {
			continue
		}
		var out []string
		for _, kv := range f[1:4] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || !strings.HasPrefix(k, "avg") {
				return "", fmt.Errorf("procfs: malformed pressure field %q", kv)
			}
			out = append(out, k+" "+v+"%")
		}
		return strings.Join(out, ", "), nil
	}
	return "", errors.New("procfs: no \"some\" line in pressure")
}
