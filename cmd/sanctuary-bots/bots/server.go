package bots

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Server figures come from /proc and from the server's Prometheus metrics.
const (
	clockTicksPerSecond = 100 // USER_HZ: the unit of utime and stime in /proc/PID/stat
	forwardedMetric     = "sanctuary_rtp_packets_forwarded_total"
	scrapeTimeout       = 2 * time.Second
)

// serverProbe samples a server process and its metrics endpoint.
type serverProbe struct {
	pid        int    // 0: no /proc figures
	metricsURL string // "": no forwarded count
	client     *http.Client
}

// serverSample is one reading; a failed part leaves its ok flag false.
type serverSample struct {
	cpu       time.Duration // user + system CPU since the process started
	rssKB     uint64
	forwarded float64
	procOK    bool
	metricsOK bool
}

func newServerProbe(pid int, metricsURL string) *serverProbe {
	return &serverProbe{pid: pid, metricsURL: metricsURL, client: &http.Client{
		Timeout:   scrapeTimeout,
		Transport: &http.Transport{DisableKeepAlives: true}, // no idle connection outlives a sample
	}}
}

// sample reads what it is configured to read; errors are returned joined,
// with whatever succeeded.
func (p *serverProbe) sample(ctx context.Context) (serverSample, error) {
	var s serverSample
	var errs []error
	if p.pid > 0 {
		cpu, rss, err := readProc(p.pid)
		if err != nil {
			errs = append(errs, err)
		} else {
			s.cpu, s.rssKB, s.procOK = cpu, rss, true
		}
	}
	if p.metricsURL != "" {
		v, err := p.scrape(ctx)
		if err != nil {
			errs = append(errs, err)
		} else {
			s.forwarded, s.metricsOK = v, true
		}
	}
	return s, errors.Join(errs...)
}

// readProc returns a process's CPU time and resident set size.
func readProc(pid int) (time.Duration, uint64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("bots: server cpu: %w", err)
	}
	ticks, err := parseProcStat(stat)
	if err != nil {
		return 0, 0, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("bots: server rss: %w", err)
	}
	rss, err := parseVmRSS(status)
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, rss, nil
}

// parseProcStat returns utime + stime (fields 14 and 15, clock ticks) of a
// /proc/PID/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseProcStat(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bots: /proc stat: no command field")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, errors.New("bots: /proc stat: too few fields")
	}
	utime, err1 := strconv.ParseUint(f[14-3], 10, 64)
	stime, err2 := strconv.ParseUint(f[15-3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("bots: /proc stat: %w", err)
	}
	return utime + stime, nil
}

// parseVmRSS returns the VmRSS line of /proc/PID/status, in kB.
func parseVmRSS(b []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("bots: /proc status: odd VmRSS %q", rest)
		}
		return strconv.ParseUint(f[0], 10, 64)
	}
	return 0, errors.New("bots: /proc status: no VmRSS")
}

// scrape fetches the metrics page and returns the forwarded counter.
func (p *serverProbe) scrape(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.metricsURL, nil)
	if err != nil {
		return 0, fmt.Errorf("bots: metrics: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bots: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bots: metrics: %s", resp.Status)
	}
	return parsePromCounter(resp.Body, forwardedMetric)
}

// parsePromCounter sums every series of the named metric in a Prometheus
// text exposition (all label sets, so per-node or per-session labels add
// up).
func parsePromCounter(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // a comment, another metric, or one whose name extends this one
		}
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return 0, fmt.Errorf("bots: metrics: bad line %q", line)
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest) // value [timestamp]
		if len(f) == 0 {
			return 0, fmt.Errorf("bots: metrics: bad line %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("bots: metrics: bad value in %q: %w", line, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("bots: metrics: %w", err)
	}
	if !found {
		return 0, fmt.Errorf("bots: metrics: no %s", name)
	}
	return sum, nil
}

// serverFigures fills the server part of r from samples taken before the
// joins (base), at the window start (a) and at its end (z).
func serverFigures(r *Report, base, a, z serverSample, window time.Duration, joined int) {
	if a.procOK && z.procOK {
		r.ServerCPUPct = cpuPct(a, z, window)
		r.ServerRSSMB = float64(z.rssKB) / 1024
		if base.procOK && joined > 0 {
			r.ServerRSSKBPerParticipant = (float64(z.rssKB) - float64(base.rssKB)) / float64(joined)
		}
	}
	if a.metricsOK && z.metricsOK {
		fwd := z.forwarded - a.forwarded
		if window > 0 {
			r.ServerForwardedPPS = fwd / window.Seconds()
		}
		if a.procOK && z.procOK && fwd > 0 {
			r.ServerCPUUsPerPacket = float64((z.cpu-a.cpu)/time.Microsecond) / fwd
		}
	}
}

// cpuPct is the CPU a process used between samples a and z, in % of one
// core over window; 0 without both samples.
func cpuPct(a, z serverSample, window time.Duration) float64 {
	if !a.procOK || !z.procOK || window <= 0 {
		return 0
	}
	return 100 * float64(z.cpu-a.cpu) / float64(window)
}
