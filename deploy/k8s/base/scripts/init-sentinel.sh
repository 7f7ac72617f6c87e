#!/bin/sh
# Writes /conf/sentinel.conf for this region's Sentinel (an init container
# runs it before every start). Sentinel rewrites the file as it learns the
# other Sentinels and replicas; the file lives in an emptyDir, so a
# restarted Sentinel asks the others which node is the primary now, and
# takes REDIS_BOOTSTRAP_PRIMARY only when none answers.
#
# Environment: POD_NAME, POD_NAMESPACE, REDISCLI_AUTH (the password),
# SENTINEL_HOSTS (space-separated), REDIS_BOOTSTRAP_PRIMARY, SENTINEL_QUORUM.
set -eu

self="${POD_NAME}.cpgw-sentinel.${POD_NAMESPACE}.svc.cluster.local"

. /scripts/sentinel-primary.sh
primary=$(sentinel_primary "$self")

umask 077
cat >/conf/sentinel.conf <<CONF
port 26379
# Nodes are known by DNS name: pod IPs change on every restart.
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip ${self}
sentinel announce-port 26379
requirepass ${REDISCLI_AUTH}
sentinel sentinel-pass ${REDISCLI_AUTH}
sentinel monitor cpgw ${primary} 6379 ${SENTINEL_QUORUM}
sentinel auth-pass cpgw ${REDISCLI_AUTH}
# A primary silent this long is down. Writes stall for about this long
# plus the election: leases cannot be renewed meanwhile (see README).
sentinel down-after-milliseconds cpgw 5000
sentinel failover-timeout cpgw 60000
sentinel parallel-syncs cpgw 1
CONF
echo "init-sentinel: ${self} monitors ${primary}"
