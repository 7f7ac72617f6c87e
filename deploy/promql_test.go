package deploy_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// selector is a metric an expression reads, with the label names its
// matchers use.
type selector struct {
	metric string
	labels []string
}

// promqlSelectors finds the metrics a PromQL expression (or a Grafana query,
// with $variables) reads. It is a scanner, not a parser: it skips strings,
// ranges, numbers, keywords and the label lists of by, without, on,
// ignoring and group_*, knows PromQL's functions, and takes every other
// identifier for a metric. A word it does not know therefore fails the
// check instead of slipping by.
func promqlSelectors(expr string) ([]selector, error) {
	var (
		sels    []selector
		lastEnd = -1 // where the last metric name ended: a { right after it is its matchers
	)
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ at %d", i)
			}
			i += end + 1
		case c == '{':
			if lastEnd < 0 || strings.TrimSpace(s[lastEnd:i]) != "" {
				return nil, fmt.Errorf("matchers at %d follow no metric name (a {__name__=...} selector cannot be checked)", i)
			}
			labels, end, err := matcherLabels(s, i)
			if err != nil {
				return nil, err
			}
			sels[len(sels)-1].labels = labels
			i = end
		case c == '$': // a Grafana variable: $name or ${name}
			i++
			if i < len(s) && s[i] == '{' {
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("unclosed ${ at %d", i)
				}
				i += end + 1
			} else {
				i = identEnd(s, i)
			}
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])): // 0.99, 5m, 1e3
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			end := identEnd(s, i)
			word := s[i:end]
			i = end
			switch {
			case isKeyword(word):
			case isGrouping(word):
				j := i
				for j < len(s) && isSpace(s[j]) {
					j++
				}
				if j < len(s) && s[j] == '(' {
					close := strings.IndexByte(s[j:], ')')
					if close < 0 {
						return nil, fmt.Errorf("unclosed %s( at %d", word, j)
					}
					i = j + close + 1
				}
			case isFunction(word):
			default:
				sels = append(sels, selector{metric: word})
				lastEnd = end
				continue
			}
		default: // operators, parentheses, commas, spaces
			i++
		}
		if !isSpace(c) {
			lastEnd = -1
		}
	}
	return sels, nil
}

// matcherLabels reads the label names of the matchers {a="x", b=~"y"}
// that start at s[i], and returns them with the index after the }.
func matcherLabels(s string, i int) ([]string, int, error) {
	var labels []string
	i++ // {
	for {
		for i < len(s) && (isSpace(s[i]) || s[i] == ',') {
			i++
		}
		if i < len(s) && s[i] == '}' {
			return labels, i + 1, nil
		}
		end := identEnd(s, i)
		if end == i {
			return nil, 0, fmt.Errorf("want a label name at %d", i)
		}
		labels = append(labels, s[i:end])
		i = end
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		op := 0
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(s[i:], o) {
				op = len(o)
				break
			}
		}
		if op == 0 {
			return nil, 0, fmt.Errorf("want a matcher operator at %d", i)
		}
		i += op
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) || !strings.ContainsRune("\"'`", rune(s[i])) {
			return nil, 0, fmt.Errorf("want a quoted label value at %d", i)
		}
		var err error
		if i, err = skipString(s, i); err != nil {
			return nil, 0, err
		}
	}
}

// skipString returns the index after the string literal at s[i].
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

func identEnd(s string, i int) int {
	for i < len(s) && isIdent(s[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}
func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isKeyword(w string) bool {
	switch strings.ToLower(w) {
	case "and", "or", "unless", "bool", "offset", "inf", "nan":
		return true
	}
	return false
}

// isGrouping reports the keywords followed by a list of label names.
func isGrouping(w string) bool {
	switch w {
	case "by", "without", "on", "ignoring", "group_left", "group_right":
		return true
	}
	return false
}

// isFunction reports PromQL's functions and aggregations, and Grafana's
// label_values. Add to it when a query needs one it lacks.
func isFunction(w string) bool {
	return slices.Contains([]string{
		"abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil",
		"changes", "clamp", "clamp_max", "clamp_min", "count", "count_over_time", "count_values",
		"delta", "deriv", "end", "exp", "floor", "group", "histogram_quantile", "idelta",
		"increase", "irate", "label_join", "label_replace", "label_values", "last_over_time",
		"ln", "max", "max_over_time", "min", "min_over_time", "predict_linear",
		"present_over_time", "quantile", "quantile_over_time", "rate", "resets", "round",
		"scalar", "sort", "sort_desc", "sqrt", "start", "stddev", "stddev_over_time",
		"stdvar", "sum", "sum_over_time", "time", "timestamp", "topk", "vector",
	}, w)
}

func TestPromQLSelectors(t *testing.T) {
	for _, c := range []struct {
		expr    string
		want    []selector
		wantErr bool
	}{
		{expr: `rate(a_total{code=~"5..", kind="write"}[5m])`,
			want: []selector{{"a_total", []string{"code", "kind"}}}},
		{expr: `sum by (region, code) (rate(b_count[5m])) / sum without(pod) (c)`,
			want: []selector{{"b_count", nil}, {"c", nil}}},
		{expr: `histogram_quantile(0.99, sum by (le) (rate(h_bucket{region=~"$region"}[$__rate_interval])))`,
			want: []selector{{"h_bucket", []string{"region"}}}},
		{expr: "g != g", want: []selector{{"g", nil}, {"g", nil}}},
		{expr: `up{job="x"} == 0 and on(pod) group_left(region) info offset 5m`,
			want: []selector{{"up", []string{"job"}}, {"info", nil}}},
		{expr: `m {a="}", b!~'x\'y'} > 4e3`, want: []selector{{"m", []string{"a", "b"}}}},
		{expr: `cpgw:ratio:rate5m > bool 0.05`, want: []selector{{"cpgw:ratio:rate5m", nil}}},
		{expr: `label_values(d_count, region)`, want: []selector{{"d_count", nil}, {"region", nil}}},
		{expr: `{__name__="x"}`, wantErr: true},
		{expr: `sum(x) {a="b"}`, wantErr: true},
		{expr: `rate(x[5m)`, wantErr: true},
		{expr: `x{a="b}`, wantErr: true},
		{expr: `x{a}`, wantErr: true},
	} {
		got, err := promqlSelectors(c.expr)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: error %v, want error %v", c.expr, err, c.wantErr)
			continue
		}
		if !c.wantErr && fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.expr, got, c.want)
		}
	}
}
