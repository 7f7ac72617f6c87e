package primary

import (
	"fmt"
	neturl "net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// SplitURL splits a redis:// or rediss:// URL whose host part lists
// several hosts separated by commas. It returns the URL with only the first
// host, for redis.ParseURL, and every host as host:port (port 6379 if
// none). A URL with one host (or another scheme) comes back unchanged, with
// its host. Errors quote neither the URL nor a host (a mistyped password
// could end up there).
func SplitURL(raw string) (first string, hosts []string, err error) {
	scheme, userinfo, hostList, tail, ok := cutAuthority(raw)
	if !ok {
		return raw, nil, nil
	}
	if !strings.Contains(hostList, ",") {
		return raw, []string{hostList}, nil
	}
	list := strings.Split(hostList, ",")
	for i, h := range list {
		if h == "" {
			return "", nil, fmt.Errorf("host %d of the host list is empty", i+1)
		}
		o, err := redis.ParseURL("redis://" + h)
		if err != nil {
			return "", nil, fmt.Errorf("host %d of the host list is not host[:port]", i+1)
		}
		hosts = append(hosts, o.Addr)
	}
	return scheme + "://" + userinfo + list[0] + tail, hosts, nil
}

// cutAuthority cuts a redis:// or rediss:// URL into scheme, userinfo
// (with its "@", or ""), host part and the rest (path, query, fragment).
func cutAuthority(raw string) (scheme, userinfo, hostList, tail string, ok bool) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "redis" && scheme != "rediss") {
		return "", "", "", "", false
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	hostList = authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, hostList = authority[:at+1], authority[at+1:]
	}
	return scheme, userinfo, hostList, tail, true
}

// RedactURL hides a URL's password, for messages. A URL listing several
// hosts keeps its list.
func RedactURL(s string) string {
	if _, hosts, err := SplitURL(s); err == nil && len(hosts) > 1 {
		// net/url cannot parse a list of IPv6 literals; parse the URL with
		// a stand-in host and put the (valid) list back.
		scheme, userinfo, hostList, tail, _ := cutAuthority(s)
		if u, err := neturl.Parse(scheme + "://" + userinfo + "host" + tail); err == nil {
			u.Host = hostList
			return u.Redacted()
		}
	}
	u, err := neturl.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
