package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's CPU times:
// 100 on every architecture Go runs Linux on.
const clockTicks = 100

// cpuTime is the user plus system CPU time pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after the last ')'. utime and stime are fields 14, 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// cpuOf is each named process's CPU time so far; a process that is gone
// counts 0.
func cpuOf(procs map[string]int) map[string]time.Duration {
	out := make(map[string]time.Duration, len(procs))
	for name, pid := range procs {
		if t, err := cpuTime(pid); err == nil {
			out[name] = t
		}
	}
	return out
}

// counters is a scrape of some Prometheus counters, summed over label sets.
type counters map[string]float64

// scrape reads url's /metrics and sums every sample of the named families
// (a histogram's _count and _sum included as name_count, name_sum).
func scrape(ctx context.Context, c *http.Client, url string, names ...string) (counters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s/metrics: %w", url, err)
	}
	out := counters{}
	for _, name := range names {
		f, ok := families[name]
		if !ok {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				out[name] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[name+"_count"] += float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"] += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out, nil
}

// coordinatorCounters sums names over every coordinator.
func (d *deployment) coordinatorCounters(ctx context.Context, names ...string) (counters, error) {
	total := counters{}
	for _, c := range d.coords {
		got, err := scrape(ctx, d.nodes, c.url, names...)
		if err != nil {
			return nil, err
		}
		for k, v := range got {
			total[k] += v
		}
	}
	return total, nil
}

func (c counters) minus(before counters) counters {
	out := counters{}
	for k, v := range c {
		out[k] = v - before[k]
	}
	return out
}
