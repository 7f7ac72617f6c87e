# Sourced by init-redis.sh and init-sentinel.sh.
#
# sentinel_primary prints the primary the first answering Sentinel of
# SENTINEL_HOSTS (space-separated) names, skipping the host given as $1 (a
# Sentinel does not ask itself), or REDIS_BOOTSTRAP_PRIMARY when none
# answers: the very first start of the cluster. REDISCLI_AUTH holds the
# password; redis-cli reads it from there.
sentinel_primary() {
	for s in $SENTINEL_HOSTS; do
		[ "$s" = "${1:-}" ] && continue
		addr=$(timeout 3 redis-cli -h "$s" -p 26379 SENTINEL get-master-addr-by-name cpgw 2>/dev/null | head -n 1) || true
		case "$addr" in
		"" | *[!a-zA-Z0-9.-]*) continue ;; # no answer, or an error message
		esac
		echo "$addr"
		return
	done
	echo "$REDIS_BOOTSTRAP_PRIMARY"
}
